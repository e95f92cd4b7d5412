#!/usr/bin/env bash
# The quickstart: builds promoter, copies the sample trunk, images and config
# into ./quickstart (the fixtures are never changed), and runs the main job
# on them. Leaves quickstart/state/master.sqlite to open with sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ws="$root/quickstart"

echo "quickstart: building promoter (release; about two minutes the first time)" >&2
cargo build --release --quiet
bin="$root/target/release/promoter"

if [ -d "$ws/trunk" ]; then
    echo "quickstart: reusing ./quickstart from an earlier run (rm -rf quickstart to start over)" >&2
else
    mkdir -p "$ws"
    cp -a fixtures/trunk fixtures/images fixtures/jobs fixtures/promoter.yaml "$ws/"
fi
if ! command -v sqlite3 >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "quickstart: installing sqlite3" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
fi

cd "$ws"
# --wait: wait for the jobs it starts and decide on their votes (a cron
# entry runs plain `run`, which starts them and returns).
"$bin" -c promoter.yaml run --wait
echo
"$bin" -c promoter.yaml why

full=$(readlink trunk/tripleo-ci-testing | xargs basename | cut -d_ -f1,2)
commit=${full%_*}
distro=$(grep '^  distro_hash:' "trunk/$(readlink trunk/tripleo-ci-testing)/commit.yaml" | awk '{print $2}')
cat <<MSG

The pipeline ran on the sample trunk: quickstart/state/master.sqlite holds the
builds, votes and promotions. Look inside:

  cd quickstart
  sqlite3 -header -column state/master.sqlite 'SELECT * FROM promotions_view'
  sqlite3 -header -column state/master.sqlite 'SELECT name, full_hash, updated FROM labels_view'
  ../target/release/promoter -c promoter.yaml status
MSG
if [ -L trunk/current-tripleo ]; then
    echo
    echo "current-tripleo is promoted too (see history): rm -rf quickstart to start over."
else
    cat <<MSG

current-tripleo waits for two CI jobs. Report them as CI elsewhere would, then run again:

  ../target/release/promoter --db state/master.sqlite report-result --job-id periodic-tripleo-ci-centos-7-ovb-3ctlr_1comp-featureset001-master \\
      --commit-hash $commit --distro-hash $distro --info-url https://logs.example.org/1 --timestamp \$(date +%s) --success true
  ../target/release/promoter --db state/master.sqlite report-result --job-id periodic-tripleo-ci-centos-7-multinode-1ctlr-featureset005-master \\
      --commit-hash $commit --distro-hash $distro --info-url https://logs.example.org/2 --timestamp \$(date +%s) --success true
  ../target/release/promoter -c promoter.yaml run
  ../target/release/promoter -c promoter.yaml history
MSG
fi
