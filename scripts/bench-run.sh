#!/usr/bin/env bash
# `run` while a promotion's three-hour job runs, and `run` with nothing new,
# beside /bin/true in the same run. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
echo "bench-run: run this on a quiet machine; figures are medians" >&2
exec python3 scripts/bench/run_bench.py "$@"
