# shellcheck shell=bash
# What the benchmarks share; sourced after each defines ROOT, say and die.

# Sets BERTH, when not given, to the release build, building it when missing.
find_berth() {
    if [[ -z ${BERTH:-} ]]; then
        BERTH=$ROOT/target/release/berth
        if [[ ! -x $BERTH ]]; then
            say "building berth (cargo build --release)…"
            (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
        fi
    fi
    [[ -x $BERTH ]] || die "berth binary $BERTH is not executable"
}
