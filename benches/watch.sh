#!/usr/bin/env bash
# `berth watch` against the real engine: a benchmark, not a test. It asserts
# nothing about timings; it measures, prints a table and marks each target
# met or missed. See benches/README.md.
#
#   bash benches/watch.sh [-r RUNS] [--only PARTS] [--apps N] [--big M]
#                         [--passes P] [--own-engine] [--berth PATH]
#   QUICK=1 bash benches/watch.sh      # the idle part runs 2 minutes, not 10
#
#   -r RUNS       changes timed in parts 1 and 2, median reported (default 10)
#   --only PARTS  run only these parts, e.g. 1,2 (default 1,2,3,4)
#   --apps N      apps of the idle daemon, part 3 (default 100)
#   --big M       apps (and running containers) of part 4 (default 1000)
#   --passes P    passes of part 4 (default 100; RSS read after 10 and P)
#   --own-engine  start a private dockerd (own data dir, own bridge, own
#                 containerd) for the whole run and remove it at the end:
#                 part 4's 1000 containers then cannot disturb, or deadlock,
#                 the shared engine (see Caveats in benches/README.md)
#   --berth PATH  berth binary (default target/release/berth, built if missing)
#
# 1. local commit -> new container started: `berth watch REPO` runs; each run
#    changes the env of a one-replica app, commits, and times from just
#    before the edit+commit to the new container's `start` engine event.
#    Split at the container's `create` event: before it is berth (debounce,
#    load, observe, plan), after it the engine (create, network, start).
# 2. webhook -> new container started: `berth watch --remote file://BARE
#    --interval 1h --listen`; each run pushes (untimed), then times from a
#    signed GitHub-style POST /webhook to the `start` event. Then the same
#    remote with `--interval 1s` and no new commit for 30 s: passes (from
#    /metrics), git commands run (a `git` wrapper first in the watch's PATH
#    logs each), mutating engine events of the project (`docker events`).
# 3. idle daemon, N apps, `--drift-interval 1m`: CPU (utime+stime from
#    /proc/PID/stat) over 10 minutes (QUICK=1: 2 minutes, scaled to 10).
# 4. M apps running, passes driven one after another by webhooks: VmRSS
#    (and VmHWM) after pass 10 and pass P, from /proc/PID/status.
#
# Needs: a running engine, busybox:1.36 (tests/fixtures/make-images.sh),
# git, curl, openssl, python3. --own-engine needs root, dockerd and `ip`.
# Everything it creates (containers and networks of its projects, its temp
# dir with berth's state, the private engine) is removed on exit, also on
# failure or Ctrl-C.
set -euo pipefail

RUNS=10
ONLY=1,2,3,4
APPS=100
BIG=1000
PASSES=100
OWN_ENGINE=0
BERTH=
IMAGE=busybox:1.36
IDLE_SECONDS=600
[[ ${QUICK:-0} == 1 ]] && IDLE_SECONDS=120
IDLE_SECONDS=${WATCH_IDLE_SECONDS:-$IDLE_SECONDS} # for trying the script out
# Containers that idle (no `sleep 1` loop: a thousand of those load a small
# machine by themselves) and exit at once on SIGTERM.
CMD='["sh", "-c", "trap '"'"'exit 0'"'"' TERM; sleep 2147483647 & wait"]'

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    -r) RUNS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --apps) APPS=$2; shift 2 ;;
    --big) BIG=$2; shift 2 ;;
    --passes) PASSES=$2; shift 2 ;;
    --own-engine) OWN_ENGINE=1; shift ;;
    --berth) BERTH=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "watch.sh: unknown argument $1 (try -h)" >&2; exit 64 ;;
    esac
done
for v in RUNS APPS BIG PASSES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "watch.sh: $v must be a positive integer" >&2; exit 64; }
done
((PASSES >= 10)) || { echo "watch.sh: --passes must be at least 10" >&2; exit 64; }
part() { [[ ,$ONLY, == *,$1,* ]]; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() { say "watch.sh: $*"; exit 1; }
for tool in docker git curl openssl python3; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"
find_berth
REAL_GIT=$(command -v git)

# ---------------------------------------------------------------- set-up ---

WORK=$(mktemp -d /tmp/bw.XXXXXX)     # short: the private engine's socket lives here
TAG=$$
P1=bench-watch-local-$TAG
P2=bench-watch-remote-$TAG
P3=bench-watch-idle-$TAG
P4=bench-watch-big-$TAG
LOG=$WORK/log
: >"$LOG"
SECRET=$(openssl rand -hex 32)
export BERTH_STATE_DIR=$WORK/state NO_COLOR=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
WATCH_PID=
BG_PIDS=()
ENGINE_PID=
BRIDGE=

# Remove a project's containers 10 at a time, each call with a time limit
# (hundreds of concurrent exits are what deadlocks Docker 20.10.24's
# libnetwork, see benches/README.md).
project_down() {
    # A call that hangs (the deadlock) stops the removal instead of waiting on every batch.
    docker ps -aq --filter "label=berth.project=$1" |
        xargs -r -n 10 sh -c 'timeout 120 docker rm -f "$@" >/dev/null || exit 255' sh
    docker network rm "$1_default" >/dev/null 2>&1 || true
}

stop_watch() {
    [[ -n $WATCH_PID ]] || return 0
    kill -TERM "$WATCH_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$WATCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$WATCH_PID" 2>/dev/null || true
    wait "$WATCH_PID" 2>/dev/null || true
    WATCH_PID=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    say "cleaning up…"
    stop_watch
    local p
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for p in "$P1" "$P2" "$P3" "$P4"; do
        project_down "$p" || true
    done
    if ((rc != 0)); then
        say "watch.sh failed (exit $rc); last lines of its log:"
        tail -n 20 "$LOG" >&2 || true
    fi
    if [[ -n $ENGINE_PID ]]; then
        kill -TERM "$ENGINE_PID" 2>/dev/null || true
        for ((i = 0; i < 600; i++)); do
            kill -0 "$ENGINE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
    if [[ -n $ENGINE_PID ]]; then
        # A killed engine leaves its containers' mounts: unmount them before removing the dir.
        awk -v w="$WORK/engine/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    [[ -z $BRIDGE ]] || ip link del "$BRIDGE" 2>/dev/null || true
    rm -rf "$WORK" 2>/dev/null || { sleep 2; rm -rf "$WORK" || say "could not remove $WORK"; }
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ((OWN_ENGINE)); then
    command -v dockerd >/dev/null || die "--own-engine needs dockerd"
    main_host=${DOCKER_HOST:-}
    BRIDGE=bw$TAG
    net=$((200 + TAG % 50))
    ip link add "$BRIDGE" type bridge || die "cannot make the bridge $BRIDGE (root needed)"
    ip addr add "10.$net.0.1/16" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    mkdir -p "$WORK/engine"
    # Never --bridge=none beside another engine: that dockerd deletes docker0.
    dockerd --data-root "$WORK/engine/data" --exec-root "$WORK/engine/exec" -H "unix://$WORK/engine/sock" \
        --pidfile "$WORK/engine/pid" -b "$BRIDGE" --iptables=false --ip-masq=false --ip-forward=false \
        >"$WORK/engine/log" 2>&1 &
    ENGINE_PID=$!
    export DOCKER_HOST=unix://$WORK/engine/sock
    for ((i = 0; i < 300; i++)); do
        docker info >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker info >/dev/null 2>&1 || die "the private dockerd did not start (see $WORK/engine/log)"
    DOCKER_HOST=$main_host docker save "$IMAGE" | docker load >/dev/null || die "cannot copy $IMAGE into the private engine"
fi
docker info >/dev/null 2>&1 || die "no Docker engine answers (start one: bash tests/run.sh --no-run)"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is missing (bash tests/fixtures/make-images.sh)"

# A `git` that logs each command line, first in the watch's PATH only.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/git" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$WORK/git.log"
exec "$REAL_GIT" "\$@"
EOF
chmod +x "$WORK/bin/git"
: >"$WORK/git.log"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }
ms() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.0f}')" "$1"; }
mem_available() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; } # KiB
# "median min max" of integers on stdin
stats() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[1], v[NR]}'; }

# app FILE NAME GEN: one app, one replica, idling.
app() {
    cat >"$1" <<EOF
image: $IMAGE
processes:
  main:
    command: $CMD
env: {GEN: "$3", NAME: "$2"}
EOF
}
# make_repo DIR PROJECT N: a committed repo of N apps (a0 … aN-1).
make_repo() {
    local dir=$1 i
    mkdir -p "$dir/apps"
    echo "project: $2" >"$dir/berth.yaml"
    for ((i = 0; i < $3; i++)); do app "$dir/apps/a$i.yaml" "a$i" 0; done
    git -C "$dir" init -q -b main
    git -C "$dir" add -A
    git -C "$dir" commit -qm "$3 apps"
}

# start_watch NAME ARGS...: berth watch in the background, its log in
# $WORK/NAME.log, its git commands in $WORK/git.log.
start_watch() {
    local name=$1
    shift
    WATCH_LOG=$WORK/$name.log
    PATH=$WORK/bin:$PATH BERTH_WEBHOOK_SECRET=$SECRET "$BERTH" watch "$@" >"$WATCH_LOG" 2>&1 &
    WATCH_PID=$!
}
ended() { grep -cE 'pass done|pass failed' "$WATCH_LOG" || true; }
# Wait until no pass runs and the log has been still for 2 s (engine events
# of a replace trigger a check about a second after it).
settle() {
    local size=-1 still=0 i
    for ((i = 0; i < 1200; i++)); do
        kill -0 "$WATCH_PID" 2>/dev/null || die "berth watch exited; its log: $(tail -n 20 "$WATCH_LOG")"
        local s started done_
        s=$(stat -c %s "$WATCH_LOG")
        started=$(grep -c 'pass started' "$WATCH_LOG" || true)
        done_=$(ended)
        if [[ $s == "$size" ]] && ((started > 0 && started == done_)); then
            still=$((still + 1))
            ((still >= 20)) && return 0
        else
            still=0
        fi
        size=$s
        sleep 0.1
    done
    die "the watch did not settle in 2 minutes; its log: $(tail -n 20 "$WATCH_LOG")"
}
wait_healthy() { # wait_healthy PORT
    for ((i = 0; i < 300; i++)); do
        curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the watch's listener on 127.0.0.1:$1 did not answer; its log: $(tail -n 20 "$WATCH_LOG")"
}
passes() { # passes PORT: sum of berth_reconcile_passes_total
    curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^berth_reconcile_passes_total/ {n += $NF} END {print n + 0}'
}
github_hook() { # github_hook PORT: a signed push to main; prints the HTTP code
    local body='{"ref":"refs/heads/main"}' sig
    sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" \
        --data-binary "$body" "http://127.0.0.1:$1/webhook"
}
bearer_hook() { # bearer_hook PORT
    curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$1/webhook"
}
# Engine events of a project's containers, "action id timeNano" per line.
follow_events() { # follow_events PROJECT FILE
    : >"$2"
    docker events --filter "label=berth.project=$1" --filter type=container \
        --format '{{.Action}} {{.Actor.ID}} {{.TimeNano}}' >"$2" &
    BG_PIDS+=($!)
    sleep 0.5 # subscribed before anything is timed
}
# wait_start FILE SKIP: the first `start` event after the first SKIP lines;
# prints "createNano startNano".
wait_start() {
    local i line id start create
    for ((i = 0; i < 1200; i++)); do
        line=$(tail -n +"$(($2 + 1))" "$1" | grep -m1 '^start ' || true)
        if [[ -n $line ]]; then
            read -r _ id start <<<"$line"
            create=$(awk -v id="$id" '$1 == "create" && $2 == id {print $3; exit}' "$1")
            echo "${create:-$start} $start"
            return 0
        fi
        sleep 0.05
    done
    die "no new container started within a minute; the watch's log: $(tail -n 20 "$WATCH_LOG")"
}

RESULTS=()
row() { printf '| %-42s | %s | %s |' "$1" "$2" "${3:-}"; } # row LABEL FIGURES [TARGET]
fig() { echo "median $(ms "$1") ms (min $(ms "$2"), max $(ms "$3"))"; } # fig MEDIAN MIN MAX (ns)
# summarize LABEL FILE TARGET_MS: FILE holds "t0 create start" lines (ns).
summarize() {
    local total over engine
    read -r -a total <<<"$(awk '{print $3 - $1}' "$2" | stats)"
    read -r -a over <<<"$(awk '{print $2 - $1}' "$2" | stats)"
    read -r -a engine <<<"$(awk '{print $3 - $2}' "$2" | stats)"
    local verdict=missed
    ((over[0] <= $3 * 1000000)) && verdict=met
    RESULTS+=("$(row "$1: change -> container started" "$(fig "${total[@]}")")")
    RESULTS+=("$(row "$1: engine (create -> start event)" "$(fig "${engine[@]}")")")
    RESULTS+=("$(row "$1: berth (change -> create event)" "$(fig "${over[@]}")" "<= $3 ms: $verdict")")
}

say "berth watch benchmark: $("$BERTH" --version | head -n1), $(docker version --format 'engine {{.Server.Version}}'),"
say "  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)$( ((OWN_ENGINE)) && echo ', private engine')"

# ------------------------------------------------ 1. local commit → start ---

if part 1; then
    say "1. local commit → new container ($RUNS runs)…"
    make_repo "$WORK/local" "$P1" 1
    start_watch local "$WORK/local" --drift-interval 1h
    follow_events "$P1" "$WORK/ev1"
    settle
    : >"$WORK/t1"
    for ((i = 1; i <= RUNS; i++)); do
        skip=$(wc -l <"$WORK/ev1")
        t0=$(now)
        app "$WORK/local/apps/a0.yaml" a0 "$i"
        git -C "$WORK/local" commit -qam "run $i"
        read -r create start <<<"$(wait_start "$WORK/ev1" "$skip")"
        echo "$t0 $create $start" >>"$WORK/t1"
        settle
    done
    grep -q 'pass failed' "$WATCH_LOG" && die "a pass failed: $(grep -m1 'pass failed' "$WATCH_LOG")"
    stop_watch
    summarize "local commit" "$WORK/t1" 1000
fi

# --------------------------------------------- 2. webhook → start; polling ---

if part 2; then
    say "2. webhook → new container ($RUNS runs)…"
    git init -q --bare -b main "$WORK/remote.git"
    make_repo "$WORK/clone" "$P2" 1
    git -C "$WORK/clone" push -q "$WORK/remote.git" main
    port=$(free_port)
    start_watch remote --remote "file://$WORK/remote.git" --branch main --interval 1h \
        --drift-interval 1h --listen "127.0.0.1:$port"
    wait_healthy "$port"
    follow_events "$P2" "$WORK/ev2"
    settle
    : >"$WORK/t2"
    for ((i = 1; i <= RUNS; i++)); do
        app "$WORK/clone/apps/a0.yaml" a0 "$i"
        git -C "$WORK/clone" commit -qam "run $i"
        git -C "$WORK/clone" push -q "$WORK/remote.git" main
        skip=$(wc -l <"$WORK/ev2")
        t0=$(now)
        code=$(github_hook "$port")
        [[ $code == 202 ]] || die "the webhook got $code, not 202"
        read -r create start <<<"$(wait_start "$WORK/ev2" "$skip")"
        echo "$t0 $create $start" >>"$WORK/t2"
        settle
    done
    grep -q 'pass failed' "$WATCH_LOG" && die "a pass failed: $(grep -m1 'pass failed' "$WATCH_LOG")"
    stop_watch
    summarize "webhook" "$WORK/t2" 1000

    say "2b. remote polled every 1s, no new commit, 30 s…"
    start_watch poll --remote "file://$WORK/remote.git" --branch main --interval 1s \
        --drift-interval 1h --listen "127.0.0.1:$port"
    wait_healthy "$port"
    # It never settles (a pass a second): wait for the first pass, then a bit.
    for ((i = 0; i < 600; i++)); do
        (($(ended) > 0)) && break
        sleep 0.1
    done
    sleep 2
    p0=$(grep -c 'pass started' "$WATCH_LOG" || true)
    g0=$(wc -l <"$WORK/git.log")
    e0=$(wc -l <"$WORK/ev2")
    m0=$(grep -c 'is at' "$WATCH_LOG" || true)
    sleep 30
    p1=$(grep -c 'pass started' "$WATCH_LOG" || true)
    polls=$((p1 - p0))
    lsr=$(tail -n +"$((g0 + 1))" "$WORK/git.log" | grep -c '^ls-remote' || true)
    gits=$(($(wc -l <"$WORK/git.log") - g0))
    evs=$(($(wc -l <"$WORK/ev2") - e0))
    moved=$(($(grep -c 'is at' "$WATCH_LOG" || true) - m0))
    stop_watch
    verdict=missed
    # A pass may straddle the window's ends: its ls-remote on one side of it.
    ((polls > 0 && lsr - polls <= 1 && polls - lsr <= 1 && gits == lsr && evs == 0 && moved == 0)) && verdict=met
    RESULTS+=("$(row "poll, no new commit: 30 s at --interval 1s" \
        "$polls passes: $gits git commands ($lsr ls-remote, $((gits - lsr)) other), $evs engine events, $moved \"is at\" lines" \
        "one ls-remote a poll, no engine event: $verdict")")
fi

# ------------------------------------------------------- 3. idle daemon ---

if part 3; then
    say "3. idle daemon, $APPS apps, --drift-interval 1m, ${IDLE_SECONDS}s…"
    make_repo "$WORK/idle" "$P3" "$APPS"
    "$BERTH" apply "$WORK/idle" --auto-approve --parallelism 8 >>"$LOG" 2>&1 || die "berth apply of $APPS apps failed"
    start_watch idle "$WORK/idle" --drift-interval 1m
    follow_events "$P3" "$WORK/ev3"
    settle
    tck=$(getconf CLK_TCK)
    cpu() { awk '{print $14 + $15}' "/proc/$WATCH_PID/stat"; } # utime + stime, in ticks
    c0=$(cpu)
    n0=$(ended)
    sleep "$IDLE_SECONDS"
    c1=$(cpu)
    n1=$(ended)
    evs=$(wc -l <"$WORK/ev3")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$WATCH_PID/status")
    stop_watch
    per10=$(python3 -c "print(f'{($c1 - $c0) / $tck * 600 / $IDLE_SECONDS:.2f}')")
    verdict=$(python3 -c "print('met' if $per10 <= 0.5 else 'missed')")
    RESULTS+=("$(row "idle, $APPS apps, --drift-interval 1m" \
        "$(python3 -c "print(f'{($c1 - $c0) / $tck:.2f}')") s CPU in $IDLE_SECONDS s ($((n1 - n0)) passes, $evs engine events, RSS $((rss / 1024)) MiB): $per10 s per 10 min" \
        "<= 0.5 s per 10 min: $verdict")")
    project_down "$P3"
fi

# ------------------------------------------------------- 4. RSS, M apps ---

if part 4; then
    say "4. $BIG apps running, $PASSES passes…"
    make_repo "$WORK/big" "$P4" "$BIG"
    m0=$(mem_available)
    t0=$(now)
    "$BERTH" apply "$WORK/big" --auto-approve --parallelism 8 >>"$LOG" 2>&1 || die "berth apply of $BIG apps failed"
    created_s=$(python3 -c "print(f'{($(now) - $t0) / 1e9:.0f}')")
    sleep 5
    m1=$(mem_available)
    running=$(docker ps -q --filter "label=berth.project=$P4" --filter status=running | wc -l)
    ((running == BIG)) || die "$running of $BIG containers run"
    port=$(free_port)
    start_watch big "$WORK/big" --drift-interval 1h --listen "127.0.0.1:$port"
    wait_healthy "$port"
    settle
    rss() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$WATCH_PID/status"; }
    declare -A RSS HWM
    t0=$(now)
    n=$(passes "$port")
    RSS[$n]=$(rss VmRSS)
    while ((n < PASSES)); do
        code=$(bearer_hook "$port")
        [[ $code == 202 ]] || die "the webhook got $code, not 202"
        for ((i = 0; i < 6000; i++)); do
            ((n2 = $(passes "$port"))) || true
            ((n2 > n)) && break
            sleep 0.05
        done
        ((n2 > n)) || die "no pass within 5 minutes of a webhook; the watch's log: $(tail -n 20 "$WATCH_LOG")"
        n=$n2
        if ((n == 10 || n >= PASSES)); then
            RSS[$n]=$(rss VmRSS)
            HWM[$n]=$(rss VmHWM)
        fi
    done
    pass_ms=$(python3 -c "print(f'{($(now) - $t0) / 1e6 / ($n - 1):.0f}')")
    grep -q 'pass failed' "$WATCH_LOG" && die "a pass failed: $(grep -m1 'pass failed' "$WATCH_LOG")"
    insync=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^berth_reconcile_passes_total\{result="in-sync"\}/ {print $NF}')
    stop_watch
    r10=${RSS[10]} rN=${RSS[$n]}
    verdict=$(python3 -c "print('met' if $rN <= 50 and $rN <= $r10 * 1.05 else 'missed')")
    RESULTS+=("$(row "RSS, $BIG apps running" \
        "${RSS[1]:-?} MiB after pass 1, $r10 after pass 10 (peak ${HWM[10]}), $rN after pass $n (peak ${HWM[$n]}); $pass_ms ms a pass" \
        "<= 50 MiB, not growing: $verdict")")
    RESULTS+=("$(row "$BIG containers on this engine" \
        "created in $created_s s (berth apply --parallelism 8), MemAvailable $(((m0 - m1) / 1024)) MiB lower; ${insync:-0} of the passes in sync")")
    say "removing the $BIG containers (10 at a time)…"
    project_down "$P4"
fi

# ------------------------------------------------------------- results ---

printf '\n'
row measurement figures target
printf '\n|%s|---|---|\n' "$(printf -- '-%.0s' {1..44})"
printf '%s\n' "${RESULTS[@]}"
say "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
