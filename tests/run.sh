#!/usr/bin/env bash
# berth's test command. Works on a fresh Debian machine (as root):
#   1. installs what the tests use (Docker engine, a registry, age, ...) when missing;
#   2. starts dockerd when no engine answers, and stops it at the end;
#   3. makes the stand-in images (tests/fixtures/make-images.sh), no pulls;
#   4. runs `cargo test --locked`, passing any arguments through:
#        bash tests/run.sh                  everything
#        bash tests/run.sh --test it engine one integration module
# Exits with cargo's status.
#
# Environment:
#   BERTH_TEST_DOCKERD_ARGS  extra dockerd flags when this script starts one
#                            (e.g. -H/--data-root/--exec-root/--pidfile for a second
#                            engine; never --bridge=none beside another engine:
#                            dockerd then deletes the host's docker0 bridge)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
trap stop_dockerd EXIT

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

# --- 3. Stand-in images -----------------------------------------------------
section "Stand-in images"
bash tests/fixtures/make-images.sh

# --- 4. Tests ---------------------------------------------------------------
section "cargo test --locked $*"
status=0
cargo test --locked "$@" || status=$?
section "cargo test finished with status $status"
exit "$status"
