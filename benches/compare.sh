#!/usr/bin/env bash
# berth vs docker-compose 1.x on the same engine: a benchmark, not a test.
# It asserts nothing about timings; it measures, prints a table and marks each
# target met or missed. See benches/README.md.
#
#   bash benches/compare.sh [-n N] [-r RUNS] [-c CREATE_RUNS] [--big M] [--full]
#                           [--berth PATH] [--no-hyperfine] [-v]
#
#   -n N            apps in the main repo (default 100)
#   -r RUNS         timed runs per no-op measurement, median reported (default 5)
#   -c CREATE_RUNS  timed runs per "create from empty" measurement (default 1)
#   --big M         apps in the large repo for the plan-time check (default 1000)
#   --full          also create the M containers and time the no-op plan with
#                   all of them running (slow: minutes, ~M more containers;
#                   see benches/README.md on Docker 20.10.24's libnetwork
#                   deadlock before running it on a shared engine)
#   --berth PATH    berth binary (default target/release/berth, built if missing)
#   --no-hyperfine  time with a bash loop (date +%s%N) even if hyperfine exists
#   -v              show hyperfine's own output
#
# It runs benches/startup.sh first (the start-up target: `berth validate` of
# a one-app repo <= 25 ms) and prints its tables after its own.
#
# Needs: a running Docker engine, docker-compose (1.29), curl, jq, the image
# busybox:1.36 (tests/fixtures/make-images.sh makes it). Uses only the local
# engine socket; nothing is pulled, nothing listens on a port. Everything it
# creates (containers, temp dir, berth state) is removed on exit.
set -euo pipefail

ARGS=$*
N=100
RUNS=5
CREATE_RUNS=1
BIG=1000
FULL=0
BERTH=
USE_HF=1
VERBOSE=0
IMAGE=busybox:1.36
CMD_SH="trap 'exit 0' TERM; while true; do sleep 1; done"
# The large repo's containers idle without forking a `sleep` every second:
# a thousand of those would load a small machine by themselves.
CMD_QUIET="trap 'exit 0' TERM; sleep 2147483647 & wait"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    -n) N=$2; shift 2 ;;
    -r) RUNS=$2; shift 2 ;;
    -c) CREATE_RUNS=$2; shift 2 ;;
    --big) BIG=$2; shift 2 ;;
    --full) FULL=1; shift ;;
    --berth) BERTH=$2; shift 2 ;;
    --no-hyperfine) USE_HF=0; shift ;;
    -v) VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (try -h)" >&2; exit 64 ;;
    esac
done
for v in N RUNS CREATE_RUNS BIG; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: $v must be a positive integer" >&2; exit 64; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() { say "compare.sh: $*"; exit 1; }

for tool in docker docker-compose curl jq; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
case ${DOCKER_HOST:-unix:///var/run/docker.sock} in
unix://*) SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}; SOCK=${SOCK#unix://} ;;
*) die "DOCKER_HOST=$DOCKER_HOST: only a local unix socket is supported" ;;
esac
docker info >/dev/null 2>&1 || die "no Docker engine answers (start one: bash tests/run.sh --no-run)"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is missing (bash tests/fixtures/make-images.sh)"
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"
find_berth
HF=
if ((USE_HF)) && command -v hyperfine >/dev/null; then
    HF=$(command -v hyperfine)
fi

# ---------------------------------------------------------------- set-up ---

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
TAG=$$
BP=bench-berth-$TAG          # berth's project
BPBIG=bench-big-$TAG         # berth's project for the large repo
CP=bench-compose-$TAG        # compose's project (distinct from berth's)
LOG=$WORK/log
: >"$LOG"
export BERTH_STATE_DIR=$WORK/state   # berth's state (a cache) goes here, not in ~
export COMPOSE_HTTP_TIMEOUT=600      # compose 1.x gives up after 60 s by default
# compose 1.x runs each service's container creation as a task nested inside
# the service's own task, both under one global limit (64 by default): with
# more than ~60 services every slot is held by a service waiting for its
# container task and `up` stalls forever (docker/compose#5864, #7486, #8161).
# The known workaround is a limit above twice the number of services.
export COMPOSE_PARALLEL_LIMIT=$((2 * N + 8 > 64 ? 2 * N + 8 : 64))
COMPOSE_TIMEOUT=900                  # seconds; a stalled compose fails the run
export NO_COLOR=1

berth_ids() { docker ps -aq --filter "label=berth.project=$1"; }
# Remove a project's containers 10 at a time: `docker rm -f` of hundreds at
# once makes hundreds of concurrent exits, the load under which Docker
# 20.10.24's libnetwork deadlocks (see benches/README.md). A removal that
# hangs fails the run instead of hanging it.
berth_down() {
    berth_ids "$1" | xargs -r -n 10 timeout 300 docker rm -f >/dev/null
    docker network rm "$1_default" >/dev/null 2>&1 || true
}
compose() { timeout "$COMPOSE_TIMEOUT" docker-compose -p "$CP" -f "$WORK/compose/docker-compose.yml" "$@"; }
compose_down() { compose down --remove-orphans >>"$LOG" 2>&1; }
running() { docker ps -q --filter "label=$1" --filter status=running | wc -l; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    say "cleaning up…"
    berth_down "$BP" || true
    berth_down "$BPBIG" || true
    if [[ -f $WORK/compose/docker-compose.yml ]]; then
        compose_down || true
    fi
    docker ps -aq --filter "label=com.docker.compose.project=$CP" |
        xargs -r -n 10 timeout 300 docker rm -f >/dev/null || true
    if ((rc != 0)); then
        say "compare.sh failed (exit $rc); last lines of its log:"
        tail -n 20 "$LOG" >&2 || true
    fi
    local f
    for f in "berth.project=$BP" "berth.project=$BPBIG" "com.docker.compose.project=$CP"; do
        if [[ -n $(docker ps -aq --filter "label=$f") ]]; then
            say "compare.sh: containers labelled $f could not be removed (is the engine wedged?);"
            say "  remove them later: docker ps -aq --filter label=$f | xargs -r docker rm -f"
        fi
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A berth repo with $2 apps for project $1 in folder $3; $4: the command.
gen_berth_repo() {
    local project=$1 n=$2 dir=$3 cmd=$4 i
    mkdir -p "$dir/apps"
    printf 'project: %s\n' "$project" >"$dir/berth.yaml"
    for ((i = 1; i <= n; i++)); do
        printf '%s\n' \
            "image: $IMAGE" \
            "processes:" \
            "  web:" \
            "    command: [\"sh\", \"-c\", \"$cmd\"]" \
            "env: {APP: a$i}" \
            "restart: unless-stopped" >"$dir/apps/a$i.yaml"
    done
}

# The equivalent compose file: same image, command, env and restart policy,
# and the same kind of network (a project network, as berth makes too).
gen_compose() {
    local n=$1 dir=$2 i
    mkdir -p "$dir"
    {
        printf 'version: "2.4"\nservices:\n'
        for ((i = 1; i <= n; i++)); do
            printf '%s\n' \
                "  a$i:" \
                "    image: $IMAGE" \
                "    command: [\"sh\", \"-c\", \"$CMD_SH\"]" \
                "    environment: {APP: a$i}" \
                "    restart: unless-stopped"
        done
    } >"$dir/docker-compose.yml"
}

say "generating repos in $WORK (N=$N, large repo M=$BIG)…"
gen_berth_repo "$BP" "$N" "$WORK/repo" "$CMD_SH"
gen_compose "$N" "$WORK/compose"
gen_berth_repo "$BPBIG" "$BIG" "$WORK/big" "$CMD_QUIET"
"$BERTH" validate "$WORK/repo" >>"$LOG" 2>&1 || die "berth validate rejected the generated repo"
"$BERTH" validate "$WORK/big" >>"$LOG" 2>&1 || die "berth validate rejected the large generated repo"
compose config -q >>"$LOG" 2>&1 || die "docker-compose rejected the generated compose file"
[[ -z $(berth_ids "$BP") ]] || die "containers of project $BP exist already"

# ------------------------------------------------------------- measuring ---

declare -A MED MIN MAX CNT
now_ns() { date +%s%N; }
ns_to_s() { awk -v ns="$1" 'BEGIN { printf "%.6f", ns / 1e9 }'; }

# measure KEY LABEL RUNS CMD...: median wall time of CMD over RUNS runs after
# one warm-up run; CMD must exit 0 (output discarded).
measure() {
    local key=$1 label=$2 runs=$3
    shift 3
    say "  timing: $label ($runs runs + 1 warm-up)"
    if [[ -n $HF ]]; then
        local cmd json=$WORK/hf-$key.json
        cmd=$(printf '%q ' "$@")
        local out=$LOG
        ((VERBOSE)) && out=/dev/stderr
        "$HF" -N --warmup 1 --runs "$runs" --export-json "$json" --command-name "$label" "$cmd" >>"$out" 2>&1 ||
            die "hyperfine: $label failed (see above)"
        MED[$key]=$(jq -r '.results[0].median' "$json")
        MIN[$key]=$(jq -r '.results[0].min' "$json")
        MAX[$key]=$(jq -r '.results[0].max' "$json")
    else
        "$@" >>"$LOG" 2>&1 || die "$label failed"
        local i t0 t1 times=()
        for ((i = 0; i < runs; i++)); do
            t0=$(now_ns)
            "$@" >/dev/null 2>&1 || die "$label failed"
            t1=$(now_ns)
            times+=($((t1 - t0)))
        done
        mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -n)
        local mid=$((runs / 2)) med
        if ((runs % 2)); then med=${times[mid]}; else med=$(((times[mid - 1] + times[mid]) / 2)); fi
        MED[$key]=$(ns_to_s "$med")
        MIN[$key]=$(ns_to_s "${times[0]}")
        MAX[$key]=$(ns_to_s "${times[runs - 1]}")
    fi
    CNT[$key]=$runs
}

# time_create KEY LABEL LABEL_FILTER TEARDOWN CMD...: CREATE_RUNS runs, each
# from empty (TEARDOWN before each run, untimed); checks N containers run
# afterwards; the last run's containers are left running.
time_create() {
    local key=$1 label=$2 filter=$3 teardown=$4
    shift 4
    local i t0 t1 times=() n
    for ((i = 0; i < CREATE_RUNS; i++)); do
        $teardown
        [[ $(docker ps -aq --filter "label=$filter" | wc -l) -eq 0 ]] || die "$label: not empty before the run"
        say "  timing: $label (run $((i + 1))/$CREATE_RUNS)"
        t0=$(now_ns)
        "$@" >>"$LOG" 2>&1 || die "$label failed"
        t1=$(now_ns)
        times+=($((t1 - t0)))
        n=$(running "$filter")
        ((n == N)) || die "$label: $n of $N containers running afterwards"
    done
    mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -n)
    local mid=$((CREATE_RUNS / 2)) med
    if ((CREATE_RUNS % 2)); then med=${times[mid]}; else med=$(((times[mid - 1] + times[mid]) / 2)); fi
    MED[$key]=$(ns_to_s "$med")
    MIN[$key]=$(ns_to_s "${times[0]}")
    MAX[$key]=$(ns_to_s "${times[CREATE_RUNS - 1]}")
    CNT[$key]=$CREATE_RUNS
}

T_START=$(now_ns)
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
berth_teardown() { berth_down "$BP"; }
compose_teardown() { compose_down; }

say "0/3 start-up (benches/startup.sh, before any bench container exists)…"
STARTUP_ARGS=(--berth "$BERTH")
((USE_HF)) || STARTUP_ARGS+=(--no-hyperfine)
((VERBOSE)) && STARTUP_ARGS+=(-v)
bash "$ROOT/benches/startup.sh" "${STARTUP_ARGS[@]}" >"$WORK/startup.txt" || die "benches/startup.sh failed"

say "1/3 create $N containers from empty (engine otherwise free of bench containers)…"
time_create berth_create4 "berth apply (parallelism 4)" "berth.project=$BP" berth_teardown \
    "$BERTH" apply "$WORK/repo" --auto-approve
berth_teardown
time_create compose_create "docker-compose up -d" "com.docker.compose.project=$CP" compose_teardown \
    compose up -d
compose_teardown
time_create berth_create8 "berth apply --parallelism 8" "berth.project=$BP" berth_teardown \
    "$BERTH" apply "$WORK/repo" --auto-approve --parallelism 8

say "2/3 no-ops with both sets running ($N berth + $N compose containers)…"
# berth's set is up from the last create run; bring compose's up again (untimed).
compose up -d >>"$LOG" 2>&1 || die "docker-compose up -d failed"
[[ $(running "com.docker.compose.project=$CP") -eq $N ]] || die "compose's containers are not all running"
"$BERTH" plan "$WORK/repo" --detailed-exitcode >>"$LOG" 2>&1 || die "berth plan is not a no-op with the repo applied"

API=$(docker version --format '{{.Server.APIVersion}}')
# berth lists every container (the others hold names and ports it must not take).
LIST_URL="http://localhost/v$API/containers/json?all=1"
IMAGES_URL="http://localhost/v$API/images/json"
[[ $(curl -sf --unix-socket "$SOCK" "$LIST_URL" | jq length) -ge $((2 * N)) ]] ||
    die "the raw list call does not return both sets of $N containers"

measure plan "berth plan (no-op)" "$RUNS" "$BERTH" plan "$WORK/repo" --detailed-exitcode
measure apply "berth apply --auto-approve (no-op)" "$RUNS" "$BERTH" apply "$WORK/repo" --auto-approve
measure compose_noop "docker-compose up -d (no-op)" "$RUNS" \
    timeout "$COMPOSE_TIMEOUT" docker-compose -p "$CP" -f "$WORK/compose/docker-compose.yml" up -d
measure raw_list "raw list call (curl, all containers)" "$RUNS" \
    curl -sf --unix-socket "$SOCK" -o /dev/null "$LIST_URL"
measure raw_images "raw images call (curl, info only)" "$RUNS" \
    curl -sf --unix-socket "$SOCK" -o /dev/null "$IMAGES_URL"
measure validate "berth validate (parse alone)" "$RUNS" "$BERTH" validate "$WORK/repo"
"$BERTH" plan "$WORK/repo" --detailed-exitcode >>"$LOG" 2>&1 || die "berth plan found changes after the no-op runs"

say "    tearing down the $N-container sets…"
berth_teardown
compose_teardown

say "3/3 berth plan for a $BIG-app repo…"
measure big_empty "berth plan, $BIG apps, none running" "$RUNS" "$BERTH" plan "$WORK/big"
if ((FULL)); then
    say "    --full: creating $BIG containers (berth apply --parallelism 8, untimed)…"
    "$BERTH" apply "$WORK/big" --auto-approve --parallelism 8 >>"$LOG" 2>&1 || die "berth apply of the large repo failed"
    [[ $(running "berth.project=$BPBIG") -eq $BIG ]] || die "not all $BIG containers are running"
    measure big_full "berth plan, $BIG apps, all running (no-op)" "$RUNS" "$BERTH" plan "$WORK/big" --detailed-exitcode
    measure big_raw "raw list call, $BIG running" "$RUNS" \
        curl -sf --unix-socket "$SOCK" -o /dev/null "http://localhost/v$API/containers/json?all=1"
    say "    tearing down the $BIG containers…"
    berth_down "$BPBIG"
fi
T_END=$(now_ns)
LOAD_END=$(cut -d" " -f1-3 /proc/loadavg)

# ------------------------------------------------------------- reporting ---

fmt() { # seconds -> "12.3 ms" or "4.56 s"
    awk -v s="$1" 'BEGIN { if (s < 1) printf "%.1f ms", s * 1000; else printf "%.2f s", s }'
}
row() { # KEY LABEL
    local k=$1
    if [[ -n ${MED[$k]:-} ]]; then
        printf '| %-44s | %10s | %21s | %4s |\n' "$2" "$(fmt "${MED[$k]}")" \
            "$(fmt "${MIN[$k]}") .. $(fmt "${MAX[$k]}")" "${CNT[$k]}"
    fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # VALUE OP TARGET -> met / MISSED
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "MISSED" }'
}
trow() { # LABEL VALUE(text) OP TARGET(text) VERDICT
    printf '| %-56s | %10s | %8s | %-6s |\n' "$1" "$2" "$3 $4" "$5"
}

HOW=bash-loop
[[ -n $HF ]] && HOW="hyperfine $("$HF" --version | awk '{print $2}') (-N, 1 warm-up)"
echo
echo "berth benchmark — N=$N apps, large repo M=$BIG, $(nproc) cores,"
echo "Docker $(docker version --format '{{.Server.Version}}') (API $API), docker-compose $(docker-compose version --short),"
echo "berth $("$BERTH" --version 2>/dev/null | awk '{print $2}'); timing: $HOW; medians."
echo "compose: its default project network (as berth's), COMPOSE_PARALLEL_LIMIT=$COMPOSE_PARALLEL_LIMIT (the default 64 stalls above ~60 services)."
echo "No-ops: berth's and compose's $N containers running at once ($((2 * N)) on the engine)."
echo "Load average at start: $LOAD_START; at end: $LOAD_END (other work on the machine skews figures)."
echo
printf '| %-44s | %10s | %21s | %4s |\n' "measurement" "median" "min .. max" "runs"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..12})" \
    "$(printf -- '-%.0s' {1..23})" "$(printf -- '-%.0s' {1..6})"
row berth_create4 "create $N from empty: berth apply (par. 4)"
row berth_create8 "create $N from empty: berth apply (par. 8)"
row compose_create "create $N from empty: docker-compose up -d"
row plan "no-op: berth plan"
row apply "no-op: berth apply --auto-approve"
row compose_noop "no-op: docker-compose up -d"
row raw_list "raw engine list call (curl, every container)"
row raw_images "raw images call (curl; not in the ratios)"
row validate "repo parse alone (berth validate)"
row big_empty "berth plan, $BIG apps, none running"
row big_full "berth plan, $BIG apps, all running (no-op)"
row big_raw "raw list call, $BIG running"

R_NOOP=$(ratio "${MED[compose_noop]}" "${MED[plan]}")
FLOOR=$(awk -v a="${MED[raw_list]}" -v b="${MED[validate]}" 'BEGIN { printf "%.6f", a + b }')
R_FLOOR=$(ratio "${MED[plan]}" "$FLOOR")
R_CREATE=$(ratio "${MED[berth_create4]}" "${MED[compose_create]}")
R_CREATE8=$(ratio "${MED[berth_create8]}" "${MED[compose_create]}")
if [[ -n ${MED[big_full]:-} ]]; then
    BIGK=big_full BIGWHAT="all $BIG running, no-op"
else
    BIGK=big_empty BIGWHAT="none running, see --full"
fi

echo
trow "target" "measured" "" "target" "result"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..58})" "$(printf -- '-%.0s' {1..12})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..8})"
trow "compose no-op up / berth no-op plan" "${R_NOOP}x" ">=" "10x" "$(verdict "$R_NOOP" ">=" 10)"
trow "berth no-op plan / (raw list + parse)" "${R_FLOOR}x" "<=" "3x" "$(verdict "$R_FLOOR" "<=" 3)"
trow "berth create (par. 4) / compose create" "${R_CREATE}x" "<=" "0.8x" "$(verdict "$R_CREATE" "<=" 0.8)"
trow "  (same with --parallelism 8, for information)" "${R_CREATE8}x" "<=" "0.8x" "$(verdict "$R_CREATE8" "<=" 0.8)"
trow "berth plan, $BIG apps ($BIGWHAT)" "$(fmt "${MED[$BIGK]}")" "<=" "1 s" "$(verdict "${MED[$BIGK]}" "<=" 1)"
cat "$WORK/startup.txt"
echo
echo "Total bench time: $(fmt "$(ns_to_s $((T_END - T_START)))"). Reproduce: bash benches/compare.sh${ARGS:+ $ARGS}"
