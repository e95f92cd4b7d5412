#!/usr/bin/env bash
# Publish speed against rsync -aL + a sha256sum manifest, on a 1 GB build
# (three 300 MB images, 2,000 small files). Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
command -v rsync >/dev/null || { echo "bench-publish: rsync is needed (apt-get install rsync)" >&2; exit 1; }
echo "bench-publish: run this on a quiet machine; load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Not exec: a process keeps the resource usage of the children it had
# (the build above), and the benchmark reads its children's peak memory.
python3 scripts/bench/publish_bench.py --bin target/x86_64-unknown-linux-gnu/release/promoter "$@"
