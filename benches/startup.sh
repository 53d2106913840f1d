#!/usr/bin/env bash
# berth's start-up cost: a benchmark, not a test. It times `berth validate`
# of a one-app repository (the whole run of a command that needs no engine
# and no registry) and marks the target (<= 25 ms, median) met or missed.
# See benches/README.md.
#
#   bash benches/startup.sh [-r RUNS] [--berth PATH] [--baseline PATH]
#                           [--no-plan] [--no-hyperfine] [-v]
#
#   -r RUNS          timed runs per measurement, median reported (default 30,
#                    after 3 warm-up runs)
#   --berth PATH     berth binary (default target/release/berth, built if missing)
#   --baseline PATH  another berth binary (an older build) timed the same way,
#                    in the same run, for a before/after comparison
#   --no-plan        skip `berth plan` of the one-app repo (needs the engine)
#   --no-hyperfine   time with a bash loop (date +%s%N) even if hyperfine exists
#   -v               show hyperfine's own output
#
# The repository is a git work tree with one commit (as berth repositories
# are): apps/a1.yaml runs busybox:1.36 with one process, one env var and a
# restart policy, like benches/compare.sh's apps. `berth plan` of it is timed
# too when a Docker engine answers and has busybox:1.36 (nothing is pulled
# or created: the plan is only printed). Everything it creates (a temp dir,
# berth's state via BERTH_STATE_DIR) is removed on exit.
set -euo pipefail

RUNS=30
WARMUP=3
BERTH=
BASELINE=
PLAN=1
USE_HF=1
VERBOSE=0
TARGET_MS=25
IMAGE=busybox:1.36

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    -r) RUNS=$2; shift 2 ;;
    --berth) BERTH=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --no-plan) PLAN=0; shift ;;
    --no-hyperfine) USE_HF=0; shift ;;
    -v) VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "startup.sh: unknown argument $1 (try -h)" >&2; exit 64 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "startup.sh: RUNS must be a positive integer" >&2; exit 64; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() { say "startup.sh: $*"; exit 1; }

command -v git >/dev/null || die "git is missing"
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"
find_berth
[[ -z $BASELINE || -x $BASELINE ]] || die "baseline binary $BASELINE is not executable"
HF=
if ((USE_HF)) && command -v hyperfine >/dev/null && command -v jq >/dev/null; then
    HF=$(command -v hyperfine)
fi

WORK=$(mktemp -d /tmp/berth-startup.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
LOG=$WORK/log
: >"$LOG"
export BERTH_STATE_DIR=$WORK/state NO_COLOR=1
unset RUST_LOG

REPO=$WORK/repo
mkdir -p "$REPO/apps"
printf 'project: bench-startup-%s\n' "$$" >"$REPO/berth.yaml"
printf '%s\n' \
    "image: $IMAGE" \
    "processes:" \
    "  web:" \
    "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]" \
    "env: {APP: a1}" \
    "restart: unless-stopped" >"$REPO/apps/a1.yaml"
git -C "$REPO" init -q
git -C "$REPO" add -A
git -C "$REPO" -c user.name=bench -c user.email=bench@localhost commit -qm "one app"
"$BERTH" validate "$REPO" >>"$LOG" 2>&1 || die "berth validate rejected the generated repo: $(cat "$LOG")"

if ((PLAN)); then
    if ! docker info >/dev/null 2>&1; then
        say "no Docker engine answers: berth plan not timed (--no-plan to silence)"
        PLAN=0
    elif ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "$IMAGE is missing (bash tests/fixtures/make-images.sh): berth plan not timed"
        PLAN=0
    elif ! "$BERTH" plan "$REPO" >>"$LOG" 2>&1; then
        die "berth plan of the one-app repo failed: $(tail -n 5 "$LOG")"
    fi
fi

declare -A MED MIN MAX
ns_to_s() { awk -v ns="$1" 'BEGIN { printf "%.6f", ns / 1e9 }'; }

# measure KEY LABEL CMD...: median wall time over RUNS runs after WARMUP.
measure() {
    local key=$1 label=$2
    shift 2
    say "  timing: $label ($RUNS runs + $WARMUP warm-up)"
    if [[ -n $HF ]]; then
        local json=$WORK/hf-$key.json out=$LOG
        ((VERBOSE)) && out=/dev/stderr
        "$HF" -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" --command-name "$label" \
            "$(printf '%q ' "$@")" >>"$out" 2>&1 || die "hyperfine: $label failed"
        MED[$key]=$(jq -r '.results[0].median' "$json")
        MIN[$key]=$(jq -r '.results[0].min' "$json")
        MAX[$key]=$(jq -r '.results[0].max' "$json")
    else
        local i t0 t1 times=()
        for ((i = 0; i < WARMUP; i++)); do "$@" >/dev/null 2>&1 || die "$label failed"; done
        for ((i = 0; i < RUNS; i++)); do
            t0=$(date +%s%N)
            "$@" >/dev/null 2>&1 || die "$label failed"
            t1=$(date +%s%N)
            times+=($((t1 - t0)))
        done
        mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -n)
        local mid=$((RUNS / 2)) med
        if ((RUNS % 2)); then med=${times[mid]}; else med=$(((times[mid - 1] + times[mid]) / 2)); fi
        MED[$key]=$(ns_to_s "$med")
        MIN[$key]=$(ns_to_s "${times[0]}")
        MAX[$key]=$(ns_to_s "${times[RUNS - 1]}")
    fi
}

LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
measure version "berth --version (process floor)" "$BERTH" --version
measure validate "berth validate, one-app repo" "$BERTH" validate "$REPO"
((PLAN)) && measure plan "berth plan, one-app repo" "$BERTH" plan "$REPO"
if [[ -n $BASELINE ]]; then
    measure b_validate "baseline: berth validate, one-app repo" "$BASELINE" validate "$REPO"
    ((PLAN)) && measure b_plan "baseline: berth plan, one-app repo" "$BASELINE" plan "$REPO"
fi
LOAD_END=$(cut -d" " -f1-3 /proc/loadavg)

ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
row() { # KEY LABEL
    [[ -n ${MED[$1]:-} ]] || return 0
    printf '| %-40s | %9s | %21s |\n' "$2" "$(ms "${MED[$1]}")" "$(ms "${MIN[$1]}") .. $(ms "${MAX[$1]}")"
}
HOW="bash loop (date +%s%N; adds a fork per run)"
[[ -n $HF ]] && HOW="hyperfine $("$HF" --version | awk '{print $2}') (-N, $WARMUP warm-ups)"
VERDICT=$(awk -v s="${MED[validate]}" -v t="$TARGET_MS" 'BEGIN { print (s * 1000 <= t) ? "met" : "MISSED" }')

echo
echo "berth start-up — $(nproc) cores, berth $("$BERTH" --version | awk '{print $2}'), $RUNS runs each; timing: $HOW; medians."
echo "Load average at start: $LOAD_START; at end: $LOAD_END (other work on the machine skews figures)."
echo
printf '| %-40s | %9s | %21s |\n' "measurement" "median" "min .. max"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..23})"
row version "berth --version (process floor)"
row validate "berth validate, one-app repo"
row plan "berth plan, one-app repo (engine)"
row b_validate "baseline: validate, one-app repo"
row b_plan "baseline: plan, one-app repo (engine)"
echo
printf '| %-40s | %9s | %8s | %-6s |\n' "target" "measured" "target" "result"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..11})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..8})"
printf '| %-40s | %9s | %8s | %-6s |\n' "berth validate, one-app repo" "$(ms "${MED[validate]}")" \
    "<= ${TARGET_MS} ms" "$VERDICT"
