#!/usr/bin/env bash
# Shared by tests/run.sh and scripts/example.sh (source it, don't run it):
# installs the Debian packages berth's tests and example use when missing,
# then makes sure a Docker engine answers, starting dockerd when none does.
# A dockerd started here has its pid in $dockerd_pid; `stop_dockerd` stops
# it (the caller decides: the tests do, the example leaves it running).

section() { printf '\n==> %s\n' "$*"; }

# --- 1. Tools ---------------------------------------------------------------
section "Checking tools"
need=()
has() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
{ has dockerd && has docker; } || need+=(docker.io)
has docker-registry || need+=(docker-registry)
{ has age && has age-keygen; } || need+=(age)
has htpasswd || need+=(apache2-utils)
installed busybox-static || need+=(busybox-static)
has docker-compose || need+=(docker-compose)
installed libssl-dev || need+=(libssl-dev)
has pkg-config || need+=(pkg-config)
has git || need+=(git)
has cargo || { echo "cargo is not installed: this project needs a Rust toolchain" >&2; exit 1; }

if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        has sudo || { echo "not root and no sudo: cannot install ${need[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
else
    echo "all tools present"
fi

# --- 2. Engine --------------------------------------------------------------
section "Docker engine"
engine_up() { timeout 10 docker info >/dev/null 2>&1; }

dockerd_pid=
dockerd_log=
stop_dockerd() {
    [[ -n $dockerd_pid ]] || return 0
    section "Stopping the dockerd this script started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "dockerd did not stop in 30s; killing it"
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    wait "$dockerd_pid" 2>/dev/null || true
    dockerd_pid=
}

# start_dockerd FLAGS...: starts dockerd, waits up to 60s; fails if it exits.
start_dockerd() {
    dockerd_log=$(mktemp -t berth-dockerd.XXXXXX.log)
    echo "starting dockerd ${BERTH_TEST_DOCKERD_ARGS:-}${*:+ $*} (log: $dockerd_log)"
    # shellcheck disable=SC2086
    dockerd ${BERTH_TEST_DOCKERD_ARGS:-} "$@" >"$dockerd_log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
        engine_up && return 0
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            wait "$dockerd_pid" 2>/dev/null || true
            dockerd_pid=
            echo "dockerd exited while starting; its last log lines:"
            tail -n 20 "$dockerd_log" | sed 's/^/  /'
            return 1
        fi
        sleep 1
    done
    echo "dockerd did not answer within 60s; its last log lines:"
    tail -n 20 "$dockerd_log" | sed 's/^/  /'
    return 1
}

if engine_up; then
    echo "an engine answers; using it (and leaving it running)"
else
    # Some sandboxes have no usable iptables: then run without it (published
    # ports still work through docker-proxy).
    start_dockerd || { echo "retrying without iptables"; start_dockerd --iptables=false; } || {
        echo "no Docker engine could be started" >&2
        exit 1
    }
fi
docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'

