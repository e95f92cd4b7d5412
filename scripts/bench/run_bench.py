"""`promoter run` while a job runs (its supervisor holds it, the run only
decides), and with nothing new, each beside /bin/true in the same run. With
nothing new, twice: as cron sees it (the run repeats the last quiet run's
decisions), and right after a write (it decides anew).

The workspace is the sample trunk with two promotions: one whose job waits
on a fifo for as long as the benchmark runs (a three-hour OVB deployment),
one decided on votes alone.
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """release: master
trunk: trunk
images: images
logs: logs
jobs:
  ovb:
    command: [./ovb.sh]
    timeout: 3h
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [ovb]
    criteria: [ovb]
  puppet-ci-testing:
    candidate_label: consistent
    criteria: [puppet-check]
"""


def median_ms(argv, n, cwd, before=None):
    times = []
    for _ in range(n):
        if before:
            before()
        t = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/promoter"))
    ap.add_argument("-n", type=int, default=200, help="invocations of each command")
    a = ap.parse_args()
    ws = tempfile.mkdtemp(prefix="bench-run-")
    try:
        for d in ("trunk", "images"):
            shutil.copytree(os.path.join(ROOT, "fixtures", d), os.path.join(ws, d), symlinks=True)
        with open(os.path.join(ws, "promoter.yaml"), "w") as f:
            f.write(CONFIG)
        ready, go = os.path.join(ws, "ready"), os.path.join(ws, "go")
        os.mkfifo(ready)
        os.mkfifo(go)
        with open(os.path.join(ws, "ovb.sh"), "w") as f:
            f.write(f"#!/bin/sh\necho running > {ready}\nread x < {go}\n")
        os.chmod(os.path.join(ws, "ovb.sh"), 0o755)
        run = [a.bin, "-q", "-c", "promoter.yaml", "run"]
        subprocess.run(run, cwd=ws, check=True)
        with open(ready) as f:
            assert f.readline().strip() == "running"
        true = median_ms(["/bin/true"], a.n, ws)
        running = median_ms(run, a.n, ws)
        true_again = median_ms(["/bin/true"], a.n, ws)
        db = os.path.join(ws, "state/master.sqlite")

        def running_jobs():
            with sqlite3.connect(db) as c:
                return c.execute("SELECT count(*) FROM job_runs WHERE outcome = 'running'").fetchone()[0]

        jobs = running_jobs()
        with open(go, "w") as f:
            f.write("go\n")
        # The job ends; its supervisor records the vote; the next run promotes.
        deadline = time.time() + 60
        while running_jobs() and time.time() < deadline:
            time.sleep(0.01)
        subprocess.run(run, cwd=ws, check=True)
        subprocess.run(run, cwd=ws, check=True)
        idle = median_ms(run, a.n, ws)

        def forget():
            # What any write does: the next run decides anew.
            with sqlite3.connect(db) as c:
                # A binary older than the memo has no table (and decides anyway).
                if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'run_memo'").fetchone():
                    c.execute("DELETE FROM run_memo")

        deciding = median_ms(run, a.n, ws, before=forget)
        base = min(true, true_again)
        print(f"/bin/true                          {base:7.2f} ms")
        print(f"run while a 3h job runs            {running:7.2f} ms  {running / base:5.2f}x /bin/true  (jobs running: {jobs})")
        print(f"run with nothing new               {idle:7.2f} ms  {idle / base:5.2f}x /bin/true  (repeats the last quiet run)")
        print(f"run with nothing new, deciding     {deciding:7.2f} ms  {deciding / base:5.2f}x /bin/true  (after a write: decides anew)")
    finally:
        shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
