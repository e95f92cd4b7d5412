#!/usr/bin/env bash
# promoter's dlrnapi-compatible commands against the real dlrnapi client and
# DLRN API, side by side on the same data, in one run (PRODUCT.md "Speed it
# must reach"):
#   1. cargo build --release (unless --bin or SKIP_BUILD=1);
#   2. the DLRN venv (scripts/bench/setup-dlrn.sh);
#   3. scripts/bench/dlrn_baseline.py: dlrnapi -> gunicorn DLRN API;
#   4. scripts/bench/promoter_api.py: the promoter binary on the same rows,
#      with the same arguments call for call;
#   5. a table: medians, ratio, p90, peak RSS, the must / aim bars.
#
#   scripts/bench-api.sh [--bin PATH] [--small] [--builds N] [--votes M]
#                        [--n K] [--warmup W] [--ops a,b,c] [--seed S]
#                        [--cache-dir DIR] [--venv DIR] [--out DIR]
#
# Defaults: 100,000 builds, 1,000,000 votes, n=50, ops
# repo-status,report-result,promotion-get,repo-get,why,run (an op the binary
# lacks is skipped with a note).  --small = 2,000 builds, 20,000 votes, n=10.
# Environment: PROMOTER_BIN, SKIP_BUILD=1, BENCH_BUILDS, BENCH_VOTES, BENCH_N,
# BENCH_WARMUP, BENCH_OPS, BENCH_SEED, BENCH_CACHE_DIR (default
# /tmp/dlrn-bench; the databases are built once and kept there), DLRN_VENV
# (default /tmp/dlrn-venv).  The first full-size run builds both databases
# (a few minutes); later runs reuse them.
#
# Run it on a quiet machine: timings of a few milliseconds are at the mercy
# of anything else on the CPUs.  Exits non-zero only when something failed
# to run (build, venv, server, a command that errored), never because a
# figure missed a bar.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/scripts/bench"

BIN="${PROMOTER_BIN:-}"
BUILDS="${BENCH_BUILDS:-100000}"
VOTES="${BENCH_VOTES:-1000000}"
N="${BENCH_N:-50}"
WARMUP="${BENCH_WARMUP:-2}"
OPS="${BENCH_OPS:-repo-status,report-result,promotion-get,repo-get,why,run}"
SEED="${BENCH_SEED:-20240601}"
CACHE="${BENCH_CACHE_DIR:-/tmp/dlrn-bench}"
VENV="${DLRN_VENV:-/tmp/dlrn-venv}"
OUT=""

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "bench-api: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) need_arg "$@"; BIN="$2"; shift 2 ;;
        --builds) need_arg "$@"; BUILDS="$2"; shift 2 ;;
        --votes) need_arg "$@"; VOTES="$2"; shift 2 ;;
        --n) need_arg "$@"; N="$2"; shift 2 ;;
        --warmup) need_arg "$@"; WARMUP="$2"; shift 2 ;;
        --ops) need_arg "$@"; OPS="$2"; shift 2 ;;
        --seed) need_arg "$@"; SEED="$2"; shift 2 ;;
        --cache-dir) need_arg "$@"; CACHE="$2"; shift 2 ;;
        --venv) need_arg "$@"; VENV="$2"; shift 2 ;;
        --out) need_arg "$@"; OUT="$2"; shift 2 ;;
        --small) BUILDS=2000; VOTES=20000; N=10; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-api: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in BUILDS VOTES N WARMUP SEED; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done
[ "$N" -ge 1 ] || die "--n must be at least 1"

PY="$(command -v python3)" || die "python3 is needed"

# -- a quiet machine ------------------------------------------------------------
read -r LOAD1 _ < /proc/loadavg 2>/dev/null || LOAD1="?"
{
    echo "bench-api: WARNING: run this on a quiet machine (nothing else using"
    echo "bench-api: the CPUs): the figures are a few milliseconds each."
    echo "bench-api: load average now: $LOAD1 on $(nproc 2>/dev/null || echo '?') cores"
    if [ "$LOAD1" != "?" ] && awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
        echo "bench-api: WARNING: the load average is above 0.5; expect noisy figures"
    fi
} >&2

# -- the binary -----------------------------------------------------------------
if [ -z "$BIN" ]; then
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/x86_64-unknown-linux-gnu/release/promoter"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        echo "bench-api: cargo build --release" >&2
        (cd "$ROOT" && cargo build --release) || die "cargo build --release failed"
    fi
fi
[ -x "$BIN" ] || die "$BIN is not an executable (cargo build --release, or --bin PATH)"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# -- the DLRN side ----------------------------------------------------------------
"$BENCH/setup-dlrn.sh" "$VENV" >&2 || die "setup-dlrn.sh failed"

if [ -n "$OUT" ]; then
    mkdir -p "$OUT" || die "cannot create $OUT"
else
    OUT="$(mktemp -d /tmp/bench-api.XXXXXX)" || die "mktemp failed"
    trap 'rm -rf "$OUT"' EXIT
fi
DL_OUT="$OUT/dlrnapi.jsonl"
PR_OUT="$OUT/promoter.jsonl"
: > "$DL_OUT"; : > "$PR_OUT"

# dlrnapi has no `why`: the baseline gets the other ops, in the same order
# (same order, warmup and n = the same arguments on both sides)
DL_OPS="$(printf '%s' "$OPS" | tr ',' '\n' | grep -vxE "why|run" | paste -sd, -)"

FAILED=0
echo "bench-api: data: $BUILDS builds, $VOTES votes, seed $SEED; n=$N, warmup $WARMUP" >&2
if [ -n "$DL_OPS" ]; then
    echo "bench-api: == dlrnapi baseline ($DL_OPS)" >&2
    "$PY" "$BENCH/dlrn_baseline.py" --cache-dir "$CACHE" --venv "$VENV" \
        --builds "$BUILDS" --votes "$VOTES" --seed "$SEED" --n "$N" \
        --warmup "$WARMUP" --ops "$DL_OPS" | tee "$DL_OUT"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "bench-api: the dlrnapi baseline failed" >&2; FAILED=1; }
fi

echo "bench-api: == promoter ($OPS) $BIN" >&2
"$PY" "$BENCH/promoter_api.py" --cache-dir "$CACHE" --bin "$BIN" \
    --builds "$BUILDS" --votes "$VOTES" --seed "$SEED" --n "$N" \
    --warmup "$WARMUP" --ops "$OPS" | tee "$PR_OUT"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "bench-api: promoter_api.py reported a failure (see above)" >&2; FAILED=1; }

echo
echo "dlrnapi vs promoter: $BUILDS builds, $VOTES votes, seed $SEED, $(nproc 2>/dev/null || echo '?') cores, load before the run $LOAD1"
"$PY" "$BENCH/api_table.py" "$DL_OUT" "$PR_OUT" || FAILED=1
[ "$FAILED" = 0 ] || echo "bench-api: something failed to run (see above)" >&2
exit "$FAILED"
