#!/usr/bin/env bash
# The long mode of the fault, load and hostile-input tests: the same harness
# as CI runs (tests/cli/{crash,load,hostile,disk,fuzz}.rs), with many more
# kills, writers' calls and votes. Not run by CI.
#
#   scripts/soak.sh [ROUNDS]       (default 200 kills per crash test)
#
# Knobs, all read by the tests: PROMOTER_SOAK_ROUNDS (random kills per crash
# test, firings of cron during a job), PROMOTER_SOAK_CALLS (report-result
# calls per each of 8 writers), PROMOTER_SOAK_VOTES (votes in the large
# database: 1,000,000, the benchmarks' size), PROMOTER_FUZZ_INPUTS, and
# PROMOTER_TEST_SEED to replay a failure (each test prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-200}
export PROMOTER_SOAK_ROUNDS=${PROMOTER_SOAK_ROUNDS:-$rounds}
export PROMOTER_SOAK_CALLS=${PROMOTER_SOAK_CALLS:-500}
export PROMOTER_SOAK_VOTES=${PROMOTER_SOAK_VOTES:-1000000}
export PROMOTER_FUZZ_INPUTS=${PROMOTER_FUZZ_INPUTS:-200000}
echo "soak.sh: ${PROMOTER_SOAK_ROUNDS} kills per crash test, 8 writers x ${PROMOTER_SOAK_CALLS} calls, ${PROMOTER_SOAK_VOTES} votes" >&2
# One test at a time: the crash tests time their kills against an
# uninterrupted run, and the large database's timings want a quiet machine.
exec cargo test --release --features fault --test cli -- --test-threads=1 --nocapture crash:: load:: hostile:: disk:: fuzz::
