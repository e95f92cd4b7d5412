#!/usr/bin/env bash
# The quickstart: builds promoter, copies the sample trunk, images and config
# into ./quickstart (the fixtures are never changed), and runs the main job
# on them. Leaves quickstart/state/master.sqlite to open with sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ws="$root/quickstart"

cargo build --release --quiet
bin="$root/target/release/promoter"

if [ ! -d "$ws/trunk" ]; then
    mkdir -p "$ws"
    cp -a fixtures/trunk fixtures/images fixtures/promoter.yaml "$ws/"
fi
if ! command -v sqlite3 >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "quickstart: installing sqlite3" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
fi

cd "$ws"
"$bin" -c promoter.yaml import

cat <<MSG

The sample trunk is imported into quickstart/state/master.sqlite. Try:

  sqlite3 -header -column quickstart/state/master.sqlite \\
    'SELECT full_hash, project_name, status, consistent, built FROM builds_view ORDER BY built DESC LIMIT 5'
  target/release/promoter --db quickstart/state/master.sqlite repo-get --max-age 0
MSG
