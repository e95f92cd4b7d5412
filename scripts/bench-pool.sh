#!/usr/bin/env bash
# The phase-2 pool, 50 updates x 4 combinations: what the promoter's
# incremental pool (createrepo_c --update on the pool directory it keeps,
# reusing the metadata of every package that did not change) costs against
# createrepo_c from scratch on the same pool, for every pool a phase 2
# makes: the whole pool, then each probe of the bisection that names the
# update breaking it. The promoter's pool hard-links only the RPMs that
# changed and writes its metadata from the entries createrepo_c made for
# each update in phase 1, reading no RPM again. Wall-clock, and
# (CALLGRIND=1, the default, when valgrind is installed) instructions
# counted by callgrind, since the machine may be noisy: the promoter's
# whole run against createrepo_c on the pools alone. Ratios below 1 mean
# the incremental pool is cheaper.
#
#   scripts/bench-pool.sh                 # 50 updates, 2 RPMs each, 512 KiB payloads
#   CALLGRIND=0 scripts/bench-pool.sh     # wall-clock only
#   UPDATES=20 SIZE_KB=128 scripts/bench-pool.sh
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATES=${UPDATES:-50}
SIZE_KB=${SIZE_KB:-512}
BREAKER=${BREAKER:-37}
CALLGRIND=${CALLGRIND:-1}
for tool in rpmbuild createrepo_c python3; do
    command -v "$tool" >/dev/null || { echo "bench-pool: $tool is needed (apt-get install rpm createrepo-c python3)" >&2; exit 1; }
done
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
BIN=$(realpath "${BIN:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/promoter}")
echo "bench-pool: $UPDATES updates x 4 combinations, 2 RPMs of $SIZE_KB KiB each; load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p trunk jobs rpmbuild/SPECS builds incoming

# One build per update: two noarch RPMs with an incompressible payload
# (their checksums are what a from-scratch createrepo_c pays for). Update
# $BREAKER brings the package the phase-2 job refuses.
for i in $(seq 1 "$UPDATES"); do
    second=pkg$i-b
    [ "$i" = "$BREAKER" ] && second=breaker
    for name in "pkg$i-a" "$second"; do
        cat > "rpmbuild/SPECS/$name.spec" <<SPEC
Name: $name
Version: 1.0
Release: 1
Summary: bench
License: MIT
BuildArch: noarch
%define _binary_payload w0.ufdio
%description
bench
%install
mkdir -p %{buildroot}/usr/share/bench
head -c ${SIZE_KB}K /dev/urandom > %{buildroot}/usr/share/bench/$name.bin
%files
/usr/share/bench/$name.bin
SPEC
        rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" "rpmbuild/SPECS/$name.spec" 2>/dev/null
    done
    mkdir -p "builds/u$i"
    mv rpmbuild/RPMS/noarch/*.rpm "builds/u$i/"
done

cat > jobs/pool-check.sh <<'JOB'
#!/bin/sh
# Phase 2 fails when the pool holds the breaker.
! ls "$PROMOTER_UPDATE_REPO" | grep -q '^breaker-'
JOB
chmod +x jobs/pool-check.sh
cat > promoter.yaml <<'CFG'
release: bench
trunk: trunk
max_parallel_jobs: 4
jobs:
  ok: {command: /bin/true}
  pool-check: {command: jobs/pool-check.sh}
updates:
  dir: rdo-update
  combinations:
    juno: [epel-7, fedora-21]
    kilo: [epel-7, fedora-22]
  phase1: {jobs: [ok]}
  phase2: {jobs: [pool-check], every: 1d}
CFG
# Each update's builds are named after its two packages (the update's
# NVR names one of them; both come from the same source package name).
for i in $(seq 1 "$UPDATES"); do
    {
        echo "builds:"
        for c in juno:epel-7 juno:fedora-21 kilo:epel-7 kilo:fedora-22; do
            for f in builds/u$i/*.rpm; do
                nvr=$(basename "$f" .noarch.rpm)
                echo "  - {id: $nvr, repo: ${c%%:*}, dist: ${c##*:}, source: ../builds/u$i-$nvr/}"
            done
        done
    } > "incoming/u$i.yml"
    for f in builds/u$i/*.rpm; do
        nvr=$(basename "$f" .noarch.rpm)
        mkdir -p "builds/u$i-$nvr"
        ln "$f" "builds/u$i-$nvr/"
    done
    "$BIN" -q -c promoter.yaml update submit "incoming/u$i.yml" >/dev/null
done
# The state before the run, to run it again under callgrind: the RPMs
# linked, the database copied.
snapshot() {
    cp -al "$1" "$2"
    for f in "$1"/*.sqlite*; do
        rm -f "$2/$(basename "$f")"
        cp -a "$f" "$2/"
    done
}
snapshot state state.before
"$BIN" -c promoter.yaml run 2> run.log || true
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
    # The same run again, from the same state, its own instructions
    # counted (not its children's: createrepo_c of phase 1, the jobs).
    rm -rf state rdo-update logs
    snapshot state.before state
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" -c promoter.yaml run 2> callgrind.log || true
fi
grep -q "pool of" run.log || { cat run.log >&2; echo "bench-pool: phase 2 made no pool" >&2; exit 1; }

python3 - "$work" "$CALLGRIND" <<'PY'
import os, re, shutil, subprocess, sys, time
work, callgrind = sys.argv[1], sys.argv[2] == "1" and shutil.which("valgrind")
log = open(os.path.join(work, "run.log")).read()
# "pool of juno/epel-7: 100 packages of 50 update(s) (100 added, 0 removed) in 0.123s"
probes = re.findall(r"pool of (\S+): (\d+) packages of (\d+) update\(s\) \((\d+) added, (\d+) removed\) in ([\d.]+)s", log)
def rpms_of(k):
    out = []
    for i in range(1, k + 1):
        d = os.path.join(work, "builds", f"u{i}")
        out += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return out
def scratch_dir(k, name):
    d = os.path.join(work, "scratch", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in rpms_of(k):
        os.link(f, os.path.join(d, os.path.basename(f)))
    return d
def instructions(args):
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + args,
                       capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", r.stderr)
    return int(m.group(1)) if m else None
inc_wall = scratch_wall = 0.0
rows = []
for combo, pkgs, k, added, removed, secs in probes:
    k = int(k)
    d = scratch_dir(k, combo.replace("/", "-"))
    t = time.perf_counter()
    subprocess.run(["createrepo_c", "-q", d], check=True)
    s = time.perf_counter() - t
    inc_wall += float(secs)
    scratch_wall += s
    rows.append((combo, k, int(added), int(removed), float(secs), s))
print(f"{'pool':<16} {'updates':>7} {'added':>5} {'removed':>7} {'incremental':>11} {'scratch':>8} {'ratio':>6}")
for combo, k, a, r, i, s in rows:
    print(f"{combo:<16} {k:>7} {a:>5} {r:>7} {i:>10.3f}s {s:>7.3f}s {i / s:>6.2f}")
print(f"wall, every pool of the phase 2 ({len(rows)}): incremental {inc_wall:.3f}s, from scratch {scratch_wall:.3f}s: ratio {inc_wall / scratch_wall:.2f}x")
first = [r for r in rows if r[3] == 0 and r[2] == 2 * r[1]]
rest = [r for r in rows if r not in first]
if rest:
    i, s = sum(r[4] for r in rest), sum(r[5] for r in rest)
    print(f"wall, the bisection's probes ({len(rest)}): incremental {i:.3f}s, from scratch {s:.3f}s: ratio {i / s:.2f}x")
if callgrind and os.path.exists(os.path.join(work, "callgrind.log")):
    # The promoter's whole run (phase 1 and phase 2, its own process: every
    # pool's metadata, the database, starting and watching the jobs)
    # against createrepo_c from scratch on the pools of one combination
    # (the four are the same packages), times four.
    m = re.search(r"Collected : (\d+)", open(os.path.join(work, "callgrind.log")).read())
    own = int(m.group(1))
    combo = rows[0][0]
    scr = sum(instructions(["createrepo_c", "-q", scratch_dir(k, "callgrind")]) for c, k, *_ in rows if c == combo) * 4
    print(f"instructions (callgrind): the promoter's whole run {own:,}, createrepo_c from scratch on the {len(rows)} pools {scr:,}: ratio {own / scr:.2f}x")
PY
