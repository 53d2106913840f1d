#!/usr/bin/env bash
# How long a one-replica app that holds a host port is down while berth
# replaces it (stop-first: the port cannot be held twice). A benchmark, not a
# test: it measures and prints, it asserts nothing about timings.
#
#   bash benches/downtime.sh [-r RUNS] [--berth PATH]
#
#   -r RUNS       replaces per case, median and worst reported (default 5)
#   --berth PATH  berth binary (default target/release/berth, built if missing)
#
# Three cases, each an httpd answering on a free host port, polled over HTTP
# every 10 ms from this host while `berth apply` replaces it (an env change):
#   - the process exits at once on SIGTERM;
#   - it stops serving at once, then takes 2 s to exit (a database flushing);
#   - it ignores SIGTERM, with `stop-grace-period: 3s` (then SIGKILL).
# Downtime is the longest window in which no request got an answer ("down",
# median, and the worst run); "apply" is the median time of the whole
# `berth apply`. Downtime should be the process's own stop time (at most the
# grace period) plus the new container's start, never a fixed 10 s; a
# process that ignores SIGTERM keeps serving until its grace period ends. Needs a running engine and busybox:1.36
# (tests/fixtures/make-images.sh). Everything it creates is removed on exit.
set -euo pipefail

RUNS=5
BERTH=
while (($#)); do
    case $1 in
    -r) RUNS=$2; shift 2 ;;
    --berth) BERTH=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "downtime.sh: unknown argument $1 (try -h)" >&2; exit 64 ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z $BERTH ]]; then
    BERTH=$PWD/target/release/berth
    [[ -x $BERTH ]] || cargo build --release --locked >&2
fi

work=$(mktemp -d -t berth-downtime.XXXXXX)
project=bench-downtime-$$
cleanup() {
    ids=$(docker ps -aq --filter "label=berth.project=$project")
    [[ -z $ids ]] || docker rm -f $ids >/dev/null
    docker network rm "${project}_default" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
export BERTH_STATE_DIR=$work/state NO_COLOR=1
mkdir -p "$work/repo/apps"
echo "project: $project" >"$work/repo/berth.yaml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])')

app() { # app TRAP GENERATION [EXTRA]: TRAP runs on SIGTERM ($! is httpd)
    cat >"$work/repo/apps/web.yaml" <<EOF
image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap '$1' TERM; mkdir -p /www && echo up > /www/index.html && httpd -f -p 4000 -h /www & while true; do wait; done"]
    ports: ["$port:4000"]
env: {GENERATION: "$2"}
${3:-}
EOF
}

# Polls the port every 10 ms until told to stop (a line on stdin); prints
# the longest gap without an answer, in seconds.
cat >"$work/poll.py" <<'EOF'
import socket, sys, threading, time
port = int(sys.argv[1])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
last_ok, worst = time.monotonic(), 0.0
while not stop.is_set():
    t = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/"):
                worst, last_ok = max(worst, t - last_ok), t
    except OSError:
        pass
    time.sleep(0.01)
print(f"{worst:.2f}", flush=True)
EOF
poller() { python3 "$work/poll.py" "$port"; }

measure() { # measure TRAP EXTRA LABEL
    local gaps=() applies=() gen t0
    app "$1" 0 "$2"
    "$BERTH" apply "$work/repo" --auto-approve >/dev/null 2>&1
    for ((i = 1; i <= RUNS; i++)); do
        app "$1" "$i" "$2"
        coproc POLL { poller; }
        sleep 0.3
        t0=$(date +%s%N)
        "$BERTH" apply "$work/repo" --auto-approve >/dev/null 2>&1
        applies+=("$(python3 -c "print(f'{($(date +%s%N) - $t0) / 1e9:.2f}')")")
        sleep 0.3
        echo done >&"${POLL[1]}"
        read -r gen <&"${POLL[0]}"
        wait "$POLL_PID" 2>/dev/null || true
        gaps+=("$gen")
    done
    sorted=$(printf '%s\n' "${gaps[@]}" | sort -n)
    median=$(echo "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
    worst=$(echo "$sorted" | tail -n 1)
    apply=$(printf '%s\n' "${applies[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    printf '| %-40s | %6ss | %6ss | %6ss |\n' "$3" "$median" "$worst" "$apply"
}

echo "berth $("$BERTH" --version | head -n1), $(docker version --format 'engine {{.Server.Version}}'), $RUNS replaces per case"
echo "one replica with a host port, replaced (stop-first): time without an answer, and the whole apply"
printf '| %-40s | %7s | %7s | %7s |\n' "the process, on SIGTERM" "down" "worst" "apply"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "---------" "---------" "---------"
measure 'kill $!; exit 0' "" "exits at once on SIGTERM"
measure 'kill $!; sleep 2; exit 0' "" "stops serving, then takes 2 s to exit"
measure '' "stop-grace-period: 3s" "ignores SIGTERM; stop-grace-period 3s"
