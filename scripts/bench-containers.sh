#!/usr/bin/env bash
# Container promotion: promoter's retag of 200 images of one build in one
# registry (Debian's docker-registry on 127.0.0.1) beside a `skopeo copy`
# loop over the same images (what the old container-push playbook did),
# with the registry's own count of the requests each made. Run it on a
# quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --quiet
echo "bench-containers: run this on a quiet machine" >&2
exec python3 scripts/bench/containers_bench.py "$@"
