#!/usr/bin/env bash
# The quickstart: the pipeline a release engineer runs, on two releases
# (master and wallaby) whose trunks grow over three cycles, as DLRN's do.
# Builds promoter, writes ./quickstart (started over at each call; the
# fixtures are never changed), runs `promoter run --wait` over both releases
# once per cycle, then shows where everything stands: a build that went
# through three labels and was published (and verified), one blocked with
# its failing job's log tail, and the page of both releases.
# Leaves quickstart/state/master.sqlite (and wallaby.sqlite) for sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ws="$root/quickstart"

echo "quickstart: building promoter (release; about two minutes the first time)" >&2
cargo build --release --quiet
bin="$root/target/x86_64-unknown-linux-gnu/release/promoter"
if ! command -v sqlite3 >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "quickstart: installing sqlite3" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
fi

rm -rf "$ws"
mkdir -p "$ws/etc" "$ws/jobs" "$ws/www"
# The sample trunk's jobs, and the two the quickstart adds.
cp -a fixtures/jobs/repo-check.sh fixtures/jobs/build-images.sh fixtures/quickstart/jobs/. "$ws/jobs/"
for r in master wallaby; do
    sed "s/@RELEASE@/$r/g" fixtures/quickstart/release.yaml > "$ws/etc/$r.yaml"
done
"$bin" -c "$ws/etc" config check

# Five days of history, three hours between builds, ending about now.
start=$(( $(date +%s) - 5 * 86400 ))
grow() {  # grow RELEASE N: the trunk as it stands after the release's first N builds
    python3 scripts/gen-trunk.py pipeline "$ws/$1/trunk" --upto "$2" --release "$1" --start "$start"
}
cycle=0
for counts in "25 25" "31 29" "37 33"; do
    set -- $counts
    cycle=$((cycle + 1))
    grow master "$1"
    grow wallaby "$2"
    echo
    echo "== cycle $cycle: master has $1 builds, wallaby $2; promoter -c etc run --wait"
    # --wait: wait for the jobs the run starts and decide on their votes (a
    # cron entry runs plain `run`, which starts them and returns).
    "$bin" -c "$ws/etc" run --wait
done

cd "$ws"
echo
echo "== promoter -c etc status"
"$bin" -c etc status
echo
echo "== promoter -c etc/master.yaml why --promotion current-tripleo"
"$bin" -c etc/master.yaml why --promotion current-tripleo || true
echo
tested=www/master/rdo-trunk-master-tested
echo "== the tested repo master published: $tested -> $(readlink "$tested")"
"$bin" -c etc/master.yaml verify "$tested"
(cd "$tested" && sha256sum -c --quiet SHA256SUMS && echo "sha256sum -c SHA256SUMS: every file matches")
"$bin" -c etc status --html www/index.html --metrics www/metrics.prom

cat <<MSG

Both releases ran three cycles. In master, the newest build of cycle 2 went
through tripleo-ci-testing, current-tripleo and current-tripleo-rdo and was
published; the newest of cycle 3 is blocked at current-tripleo, because the
sample job scenario001 fails on a build whose commit hash starts with a digit
(why shows its log tail above). Look around, from the quickstart/ directory:

  open file://$ws/www/index.html        # both releases on one page
  cd quickstart
  ../target/x86_64-unknown-linux-gnu/release/promoter -c etc status
  ../target/x86_64-unknown-linux-gnu/release/promoter -c etc/master.yaml history
  sqlite3 -header -column state/master.sqlite 'SELECT * FROM promotions_view'

Start over with: scripts/quickstart.sh (it rewrites ./quickstart).
MSG
