#!/usr/bin/env python3
"""Times `promoter publish` against `rsync -aL` followed by a `sha256sum`
manifest of the tree, in one run, and prints ratios.

  publish_bench.py --bin target/x86_64-unknown-linux-gnu/release/promoter [--image-mb 300] [--small 2000]
                   [--runs 3] [--work /tmp/promoter-publish-bench]

The build: three images of --image-mb MB (random bytes) and --small small
files (1-64 KiB) in nested directories; a second build differs from the
first in one small file. Every command runs on a warm page cache; the median
of --runs runs is reported. Figures:

  full publish            promoter publish of build 1 into an empty dest,
                          against rsync -aL into an empty dir + sha256sum
  one file differs        promoter publish of build 2 over build 1, against
                          rsync -aL of build 2 over build 1's copy + sha256sum
  checksum throughput     promoter verify of the published tree (both cores)
                          against sha256sum -c (one core), MB/s
  peak RSS                of promoter publish (getrusage of the child)
"""

import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

COMMIT_1, DISTRO_1 = "a" * 40, "b" * 40
COMMIT_2, DISTRO_2 = "c" * 40, "d" * 40


def full(c, d):
    return "%s_%s" % (c, d[:8])


def run(argv, **kw):
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        sys.exit("failed (exit %d): %s\n%s" % (r.returncode, " ".join(argv), r.stderr.decode()[-2000:]))
    return time.perf_counter() - t


def rss_of(argv):
    r = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(r.pid, 0)
    if status != 0:
        sys.exit("failed: %s" % " ".join(argv))
    return usage.ru_maxrss


def make_build(images_root, image_mb, small):
    b1 = os.path.join(images_root, full(COMMIT_1, DISTRO_1))
    b2 = os.path.join(images_root, full(COMMIT_2, DISTRO_2))
    marker = os.path.join(images_root, ".generated")
    if os.path.exists(marker):
        return b1, b2
    shutil.rmtree(images_root, ignore_errors=True)
    os.makedirs(b1)
    rnd = random.Random(1)
    for name in ("overcloud-full.qcow2", "ironic-python-agent.initramfs", "undercloud.qcow2"):
        with open(os.path.join(b1, name), "wb") as f:
            for _ in range(image_mb):
                f.write(os.urandom(1 << 20))
    for i in range(small):
        d = os.path.join(b1, "repo", "%02x" % (i % 64))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "pkg-%04d.rpm" % i), "wb") as f:
            f.write(os.urandom(rnd.randint(1024, 65536)))
    # Build 2: the same files (hard links), one small file different.
    for dirpath, _, names in os.walk(b1):
        rel = os.path.relpath(dirpath, b1)
        os.makedirs(os.path.join(b2, rel), exist_ok=True)
        for n in names:
            os.link(os.path.join(dirpath, n), os.path.join(b2, rel, n))
    changed = os.path.join(b2, "repo", "00", "pkg-0000.rpm")
    os.remove(changed)
    with open(changed, "wb") as f:
        f.write(os.urandom(4096))
    open(marker, "w").close()
    return b1, b2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/x86_64-unknown-linux-gnu/release/promoter")
    ap.add_argument("--image-mb", type=int, default=300)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/promoter-publish-bench")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    work = a.work
    images = os.path.join(work, "images")
    os.makedirs(work, exist_ok=True)
    b1, b2 = make_build(images, a.image_mb, a.small)
    os.makedirs(os.path.join(work, "trunk"), exist_ok=True)
    cfg = os.path.join(work, "promoter.yaml")
    db = os.path.join(work, "state.sqlite")
    with open(cfg, "w") as f:
        f.write("release: bench\ntrunk: trunk\nimages: images\ndatabase: state.sqlite\n"
                "publish:\n  images:\n    source: images\n    dest: out/promoter/images\n    keep: 2\n")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    run([binary, "-c", cfg, "init"])
    con = sqlite3.connect(db)
    for i, (c, d) in enumerate(((COMMIT_1, DISTRO_1), (COMMIT_2, DISTRO_2))):
        con.execute("INSERT INTO builds (commit_hash, distro_hash, project_name, status, dt_build, repo_dir,"
                    " full_hash, consistent, imported_at) VALUES (?, ?, 'bench', 'SUCCESS', ?, ?, ?, 1, 0)",
                    (c, d, 1000 + i, "%s/%s/%s" % (c[:2], c[2:4], full(c, d)), full(c, d)))
    con.commit()
    con.close()
    total = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, ns in os.walk(b1) for n in ns)
    nfiles = sum(len(ns) for _, _, ns in os.walk(b1))

    def baseline(src, dst, fresh):
        if fresh:
            shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        t = run(["rsync", "-aL", src + "/", dst + "/"])
        t += run(["sh", "-c", "find . -type f ! -name SHA256SUMS -print0 | sort -z | "
                              "xargs -0 sha256sum > SHA256SUMS"], cwd=dst)
        return t

    def promoter_publish(h, fresh):
        if fresh:
            shutil.rmtree(os.path.join(work, "out", "promoter"), ignore_errors=True)
            con = sqlite3.connect(db)
            con.execute("DELETE FROM publications")
            con.commit()
            con.close()
        return run([binary, "-q", "-c", cfg, "publish", "--target", "images", "--hash", h])

    h1, h2 = full(COMMIT_1, DISTRO_1), full(COMMIT_2, DISTRO_2)
    base_dst = os.path.join(work, "out", "rsync")
    # Warm the cache once with each tool.
    run(["cat", os.path.join(b1, "overcloud-full.qcow2")])
    baseline(b1, base_dst, True)
    promoter_publish(h1, True)

    full_base, full_prom, diff_base, diff_prom = [], [], [], []
    for _ in range(a.runs):
        full_base.append(baseline(b1, base_dst, True))
        diff_base.append(baseline(b2, base_dst, False))
        full_prom.append(promoter_publish(h1, True))
        diff_prom.append(promoter_publish(h2, False))
    dest = os.path.join(work, "out", "promoter", "images")
    verify_t = statistics.median(run([binary, "verify", dest]) for _ in range(a.runs))
    shasum_t = statistics.median(run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=base_dst)
                                 for _ in range(a.runs))
    promoter_publish(h1, True)
    rss = rss_of([binary, "-q", "-c", cfg, "publish", "--target", "images", "--hash", h2])
    fb, fp = statistics.median(full_base), statistics.median(full_prom)
    db_, dp = statistics.median(diff_base), statistics.median(diff_prom)
    mb = total / 1e6
    cores = os.cpu_count() or 1
    print("build: %d files, %.0f MB (three %d MB images); median of %d runs, warm cache, %d cores"
          % (nfiles, mb, a.image_mb, a.runs, cores))
    print("%-44s %9s %9s %8s %s" % ("workload", "baseline", "promoter", "ratio", "must / aim"))
    print("%-44s %8.2fs %8.2fs %7.2fx %s" % ("full publish (rsync -aL + sha256sum)", fb, fp, fp / fb,
                                            "<= 1x: %s / <= 0.5x: %s" % (ok(fp / fb <= 1), ok(fp / fb <= 0.5))))
    print("%-44s %8.2fs %8.2fs %7.2fx %s" % ("one file differs (rsync -aL + sha256sum)", db_, dp, dp / db_, ""))
    print("%-44s %9s %8.1f%% %8s %s" % ("  one file differs, as % of a full publish", "", 100 * dp / fp, "",
                                       "< 10%%: %s / < 3%%: %s" % (ok(dp / fp < 0.10), ok(dp / fp < 0.03))))
    print("%-44s %6.0f MB/s %6.0f MB/s %6.2fx %s" % ("checksum throughput (sha256sum -c vs verify)",
                                                    mb / shasum_t, mb / verify_t, shasum_t / verify_t,
                                                    ">= 1x: %s; per core %.2fx (aim >= 3x)"
                                                    % (ok(shasum_t / verify_t >= 1), shasum_t / verify_t / min(cores, 2))))
    print("%-44s %9s %6.1f MiB %8s %s" % ("peak RSS of publish", "", rss / 1024.0, "",
                                         "< 64 MiB: %s / < 32 MiB: %s" % (ok(rss < 65536), ok(rss < 32768))))


def ok(b):
    return "ok" if b else "MISS"


if __name__ == "__main__":
    main()
