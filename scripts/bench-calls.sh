#!/usr/bin/env bash
# Instructions per call of the hot commands, `promoter --version` and
# /bin/true, counted by callgrind (scripts/bench/calls_bench.py): figures
# that do not move with the machine's load, to compare binaries with.
#   scripts/bench-calls.sh [--bin OTHER]...   (this tree's release binary first)
# Needs valgrind; the database is scripts/bench-api.sh's (built once, cached).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
exec python3 scripts/bench/calls_bench.py \
    --bin "${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/promoter" "$@"
