#!/usr/bin/env bash
# Fuzzes the parsers of what builders and users write: commit.yaml,
# versions.csv, delorean.repo and the release config. Not run by CI.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 s each, all four)
#
# With a nightly toolchain and cargo-fuzz (installed here when missing, if the
# registry can be reached): libFuzzer on the targets under fuzz/, seeded from
# fixtures/; a crash is saved under fuzz/artifacts/<target>/ and the script
# exits non-zero. Without them: the same parsers through the bounded
# random-input loop of tests/cli/fuzz.rs (--ignored), which saves a crashing
# input the same way. Either way, a crash found becomes a regression test
# beside the parser (see src/trunk/*.rs and src/config.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(commit_yaml versions_csv delorean_repo config)

have_nightly() { command -v rustup >/dev/null && rustup run nightly rustc --version >/dev/null 2>&1; }
have_cargo_fuzz() { cargo fuzz --version >/dev/null 2>&1; }

if ! have_nightly && command -v rustup >/dev/null; then
    echo "fuzz.sh: installing a nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal >&2 || true
fi
if have_nightly && ! have_cargo_fuzz; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2 || true
fi

# Seeds: the real files of each kind in fixtures/.
seed() {
    local target=$1
    shift
    mkdir -p "fuzz/corpus/$target"
    local f
    for f in "$@"; do
        cp "$f" "fuzz/corpus/$target/seed-$(sha256sum "$f" | cut -c1-16)"
    done
}
seed_all() {
    seed commit_yaml fixtures/dlrn/generated-commit.yaml $(find fixtures/trunk -name commit.yaml | head -8)
    seed versions_csv fixtures/dlrn/versions.csv fixtures/dlrn/generated-versions.csv
    seed delorean_repo fixtures/dlrn/generated-delorean.repo $(find fixtures/trunk -name delorean.repo | head -4)
    seed config fixtures/promoter.yaml fixtures/dlrn/promoter-config_CentOS-9_master.yaml
}

if have_nightly && have_cargo_fuzz; then
    seed_all
    for t in "${targets[@]}"; do
        echo "fuzz.sh: $t for ${secs}s (libFuzzer)" >&2
        cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
            -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024
    done
    echo "fuzz.sh: no crash in ${targets[*]}" >&2
else
    echo "fuzz.sh: no nightly toolchain or no cargo-fuzz here: running the random-input loop of tests/cli/fuzz.rs instead" >&2
    PROMOTER_FUZZ_SECONDS="$secs" PROMOTER_FUZZ_TARGETS="${targets[*]}" \
        cargo test --release --test cli fuzz:: -- --ignored --nocapture
fi
