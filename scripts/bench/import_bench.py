#!/usr/bin/env python3
"""Times `promoter import` of a synthetic trunk against the baseline
`find TRUNK -name commit.yaml -exec cat {} +`, in one run, and prints ratios.

  import_bench.py --bin target/x86_64-unknown-linux-gnu/release/promoter [--hashes 20000] [--packages 10]
                  [--runs 3] [--cache-dir /tmp/promoter-bench] [--floor-runs 50]

The trunk is generated once (scripts/gen-trunk.py synthetic) and cached.
Every command runs once untimed first so that all of them read a warm page
cache; the median of --runs timed runs is reported, with its ratio to the
baseline and to /bin/true (timed by the same runner in the same run, as is
`promoter --version`). Peak RSS comes from getrusage of the child.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv, **kw):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit("failed (exit %d): %s\n%s" % (r.returncode, " ".join(argv), r.stderr.decode()[-2000:]))
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, max(rss, before)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "target", "x86_64-unknown-linux-gnu", "release", "promoter"))
    ap.add_argument("--hashes", type=int, default=20000)
    ap.add_argument("--packages", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache-dir", default="/tmp/promoter-bench")
    ap.add_argument("--floor-runs", type=int, default=50,
                    help="timed runs of /bin/true and promoter --version")
    a = ap.parse_args()

    trunk = os.path.join(a.cache_dir, "trunk-%d-%d" % (a.hashes, a.packages))
    if not os.path.exists(os.path.join(trunk, "current")):
        shutil.rmtree(trunk, ignore_errors=True)
        print("generating %s (once)" % trunk, file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "..", "gen-trunk.py"), "synthetic", trunk,
                        "--hashes", str(a.hashes), "--packages", str(a.packages)], check=True)

    work = tempfile.mkdtemp(prefix="promoter-import-bench-")
    cfg = os.path.join(work, "promoter.yaml")
    with open(cfg, "w") as f:
        f.write("release: bench\ntrunk: %s\ndatabase: %s/state.sqlite\n" % (trunk, work))
    db = os.path.join(work, "state.sqlite")

    def fresh_import():
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        return timed([a.bin, "-q", "-c", cfg, "import"])

    baseline = ["find", trunk, "-name", "commit.yaml", "-exec", "cat", "{}", "+"]
    timed(baseline)  # warm the cache
    fresh_import()
    base_t = statistics.median(timed(baseline)[0] for _ in range(a.runs))
    imports = [fresh_import() for _ in range(a.runs)]
    imp_t = statistics.median(t for t, _ in imports)
    imp_rss = max(r for _, r in imports)
    reimports = [timed([a.bin, "-q", "-c", cfg, "import"]) for _ in range(a.runs)]
    re_t = statistics.median(t for t, _ in reimports)
    shutil.rmtree(work, ignore_errors=True)

    # The floor, timed by the same runner: starting a process, and starting
    # this binary.
    floor_t = statistics.median(timed(["/bin/true"])[0] for _ in range(a.floor_runs))
    version_t = statistics.median(timed([a.bin, "--version"])[0] for _ in range(a.floor_runs))

    rows = [
        ("/bin/true", floor_t, floor_t / base_t, None, None),
        ("promoter --version", version_t, version_t / base_t, None, None),
        ("find -name commit.yaml -exec cat", base_t, 1.0, None, None),
        ("promoter import (empty db)", imp_t, imp_t / base_t, 2.0, 0.7),
        ("promoter import (unchanged trunk)", re_t, re_t / base_t, 1.0, 0.1),
    ]
    print("trunk: %d hash directories, %d packages per versions.csv; median of %d runs, warm cache"
          % (a.hashes, a.packages, a.runs))
    print("%-36s %9s %12s %10s %6s %6s" % ("command", "seconds", "x /bin/true", "x find", "must", "aim"))
    for name, t, ratio, must, aim in rows:
        bars = ("", "") if must is None else ("ok" if ratio <= must else "MISS", "ok" if ratio <= aim else "-")
        print("%-36s %9.4f %11.1fx %9.4fx %6s %6s" % (name, t, t / floor_t, ratio, bars[0], bars[1]))
    print("peak RSS of import: %.1f MiB (must < 64, aim < 32)" % (imp_rss / 1024.0))
    print(json.dumps({"bench": "import", "hashes": a.hashes, "true_s": floor_t, "version_s": version_t,
                      "baseline_s": base_t, "import_s": imp_t,
                      "reimport_s": re_t, "import_ratio": imp_t / base_t, "reimport_ratio": re_t / base_t,
                      "import_max_rss_kib": imp_rss}))


if __name__ == "__main__":
    main()
