#!/usr/bin/env bash
# Import speed against `find TRUNK -name commit.yaml -exec cat {} +` on a
# 20,000-hash synthetic trunk. Run it on a quiet machine (nothing building).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
echo "bench-import: run this on a quiet machine; figures are medians of warm-cache runs" >&2
# Not exec: a process keeps the resource usage of the children it had
# (the build above), and the benchmark reads its children's peak memory.
python3 scripts/bench/import_bench.py "$@"
