"""Container promotion: `promoter run` retagging the 200 images of one
build in one registry, beside a `skopeo copy` loop over the same images
(:<full_hash> to :<label>), both against one Debian docker-registry on
127.0.0.1 that this script starts and stops. The registry's access log
counts the requests each made; the ratio is promoter's wall time over the
loop's.
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = "tripleomaster"
LABEL = "tripleo-ci-testing"
ACCESS = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d+)')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return r.status, dict(r.headers), r.read()


def push_image(host, repo, tag, seed):
    """A small real image: a one-file tar layer and its config."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = f"built from {seed}\n".encode()
        info = tarfile.TarInfo("etc/build")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer = buf.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"build": seed}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }).encode()
    for blob in (layer, config):
        _, h, _ = request("POST", f"http://{host}/v2/{repo}/blobs/uploads/", b"")
        loc = h["Location"]
        sep = "&" if "?" in loc else "?"
        request("PUT", f"{loc}{sep}digest={sha256(blob)}", blob,
                {"Content-Type": "application/octet-stream"})
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": len(layer)}],
    }).encode()
    request("PUT", f"http://{host}/v2/{repo}/manifests/{tag}", manifest,
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


def counts(log_path, start):
    """Requests in the registry's access log after byte `start`, by kind."""
    with open(log_path, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    out = {"manifest PUT": 0, "manifest GET/HEAD": 0, "blob": 0, "other": 0, "total": 0}
    for m in ACCESS.finditer(text):
        method, path = m.group(1), m.group(2)
        out["total"] += 1
        if "/manifests/" in path:
            out["manifest PUT" if method == "PUT" else "manifest GET/HEAD"] += 1
        elif "/blobs/" in path:
            out["blob"] += 1
        else:
            out["other"] += 1
    return out


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default=os.path.join(target, "x86_64-unknown-linux-gnu", "release", "promoter"))
    ap.add_argument("--images", type=int, default=200)
    a = ap.parse_args()
    for tool in ("/usr/bin/docker-registry", shutil.which("skopeo") or "/usr/bin/skopeo"):
        if not os.path.exists(tool):
            sys.exit(f"bench-containers: {tool} is missing (scripts/test.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="bench-containers-")
    port = free_port()
    host = f"127.0.0.1:{port}"
    log_path = os.path.join(tmp, "registry.log")
    with open(os.path.join(tmp, "config.yml"), "w") as f:
        f.write(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {tmp}/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}
  secret: bench
""")
    log = open(log_path, "ab")
    reg = subprocess.Popen(["/usr/bin/docker-registry", "serve", os.path.join(tmp, "config.yml")],
                           stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while True:
            try:
                request("GET", f"http://{host}/v2/")
                break
            except OSError:
                if time.time() > deadline or reg.poll() is not None:
                    sys.exit("bench-containers: docker-registry did not start")
                time.sleep(0.02)
        ws = os.path.join(tmp, "ws")
        os.makedirs(ws)
        for d in ("trunk", "images"):
            shutil.copytree(os.path.join(ROOT, "fixtures", d), os.path.join(ws, d), symlinks=True)
        names = [f"openstack-image-{i:03d}" for i in range(a.images)]
        with open(os.path.join(ws, "promoter.yaml"), "w") as f:
            f.write(f"""release: master
trunk: trunk
images: images
containers:
  registry: {host}
  namespace: {NS}
  images: [{", ".join(names)}]
  insecure: [{host}]
promotions:
  {LABEL}:
    candidate_label: consistent
    criteria: [consistent]
    containers: true
""")
        subprocess.run([a.bin, "-q", "-c", "promoter.yaml", "import"], cwd=ws, check=True)
        db = sqlite3.connect(os.path.join(ws, "state/master.sqlite"))
        full = db.execute("SELECT full_hash FROM builds WHERE consistent "
                          "ORDER BY seq DESC, dt_order DESC LIMIT 1").fetchone()[0]
        db.close()
        print(f"filling {host} with {a.images} images tagged {full}", file=sys.stderr)
        for n in names:
            push_image(host, f"{NS}/{n}", full, f"{n}@{full}")
        load = os.getloadavg()[0]

        start = os.path.getsize(log_path)
        t0 = time.perf_counter()
        r0 = os.times()
        p = subprocess.run([a.bin, "-c", "promoter.yaml", "run"], cwd=ws,
                           capture_output=True, text=True)
        ours = time.perf_counter() - t0
        r1 = os.times()
        if p.returncode != 0 or "tagged" not in p.stderr:
            sys.exit(f"bench-containers: promoter run failed:\n{p.stderr}")
        ours_cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        ours_req = counts(log_path, start)
        said = [l for l in p.stderr.splitlines() if "tagged" in l]

        start = os.path.getsize(log_path)
        t0 = time.perf_counter()
        r0 = os.times()
        for n in names:
            subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                            f"docker://{host}/{NS}/{n}:{full}", f"docker://{host}/{NS}/{n}:skopeo-{LABEL}"],
                           check=True, stdout=subprocess.DEVNULL)
        theirs = time.perf_counter() - t0
        r1 = os.times()
        theirs_cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        theirs_req = counts(log_path, start)

        tags = a.images
        print(f"load average at start: {load:.2f} (2 cores; other builds may share them)")
        print(f"promoter: {said[0].split('  ')[-1] if said else ''}")
        print(f"{'':28} {'wall s':>8} {'cpu s':>8} {'requests':>9} {'per tag':>8} {'manifest PUT':>12} {'blob req':>9}")
        for name, wall, cpu, c in (("promoter run", ours, ours_cpu, ours_req),
                                   ("skopeo copy loop", theirs, theirs_cpu, theirs_req)):
            print(f"{name:28} {wall:8.2f} {cpu:8.2f} {c['total']:9d} {c['total'] / tags:8.2f} "
                  f"{c['manifest PUT']:12d} {c['blob']:9d}")
        print(f"ratio promoter / skopeo loop: wall {ours / theirs:.3f}x, cpu {ours_cpu / max(theirs_cpu, 1e-9):.3f}x, "
              f"requests {ours_req['total'] / max(theirs_req['total'], 1):.3f}x "
              f"(PRODUCT.md: must <= 1x, aim <= 0.05x)")
    finally:
        reg.kill()
        reg.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
