#!/usr/bin/env bash
# berth's pushes against a local registry: a benchmark, not a test. It
# asserts nothing about timings; it measures, prints a table and marks each
# target met or missed.
#
#   bash benches/push.sh [-r RUNS] [-t TAGS] [--size MIB] [-v]
#
#   -r RUNS     first pushes timed per tool, median reported (default 5)
#   -t TAGS     extra tags retagged in the bytes measurement (default 4)
#   --size MIB  random data in the pushed image (default 50)
#   -v          show the registry's and the tools' output
#
# (a) Bytes the client sends to the registry per extra tag. berth's extra
#     tags are manifest-only pushes (RegistryClient::retag: the /v2/ ping,
#     GET of the manifest, PUT of the same bytes under the new tag), run
#     through benches/tcpcount.py, a proxy that counts client->server bytes
#     (plain HTTP on loopback, so these are the HTTP requests' bytes). berth's
#     own count (what retag returns) is shown beside it. For comparison, the
#     same with `docker tag` + `docker push` of each extra tag (the engine
#     asks for every layer before it puts the manifest). Target: berth
#     <= 4 KiB per extra tag.
# (b) First push of the same image (FROM busybox:1.36 plus SIZE MiB of
#     random data, two layers) with `docker push` and with berth's push
#     (Engine::push through DockerEngine::connect(), i.e. the engine's push
#     API as bollard calls it; examples/engine_push.rs). Every push goes to a
#     fresh repository of a registry restarted on empty storage, so every
#     layer is uploaded (the engine would otherwise mount layers it knows
#     from another repository of the same registry); the script checks the
#     registry stored at least SIZE MiB. Wall time of each command, median of
#     RUNS; docker and berth alternate which goes first. Target: berth <= 1.1x
#     docker push (both hand the upload to the same engine).
#
# Needs: a running Docker engine, docker-registry (Debian's, distribution
# 2.8), python3, curl, the image busybox:1.36 (tests/fixtures/make-images.sh),
# cargo (the two examples are built in release mode). No internet: the
# registry listens on 127.0.0.1 on a free port with its storage in a temp
# dir. Everything it starts or creates (registry, proxy, images, temp dir)
# is removed on exit, also on failure or Ctrl-C.
set -euo pipefail

RUNS=5
TAGS=4
SIZE=50
VERBOSE=0
BASE=busybox:1.36
TARGET_BYTES=4096
TARGET_RATIO=1.00

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    -r) RUNS=$2; shift 2 ;;
    -t) TAGS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    -v) VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "push.sh: unknown argument $1 (try -h)" >&2; exit 64 ;;
    esac
done
for v in RUNS TAGS SIZE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "push.sh: $v must be a positive integer" >&2; exit 64; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() { say "push.sh: $*"; exit 1; }

for tool in docker docker-registry python3 curl cargo; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (start one: bash tests/run.sh --no-run)"
docker image inspect "$BASE" >/dev/null 2>&1 || die "$BASE is missing (bash tests/fixtures/make-images.sh)"

say "building the bench examples (cargo build --release --example retag_bytes --example engine_push)…"
EXAMPLES=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples
RETAG=$EXAMPLES/retag_bytes
ENGINE_PUSH=$EXAMPLES/engine_push
if ! (cd "$ROOT" && cargo build --release --quiet --example retag_bytes --example engine_push); then
    [[ -x $RETAG && -x $ENGINE_PUSH ]] || die "cargo build of the examples failed"
    say "push.sh: cargo build failed; measuring with the examples built before ($EXAMPLES)"
fi

# ---------------------------------------------------------------- set-up ---

WORK=$(mktemp -d /tmp/berth-push-bench.XXXXXX)
IMAGE=berth-bench-push:$$
LOG=$WORK/log
: >"$LOG"
REG_PID=
PROXY_PID=
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
unset DOCKER_CONFIG            # the pushes need no login; ~/.docker is not written
unset BERTH_BENCH_USER BERTH_BENCH_PASSWORD
export NO_COLOR=1

quiet() {
    if ((VERBOSE)); then "$@" >&2; else "$@" >>"$LOG" 2>&1; fi
}

stop_registry() {
    if [[ -n $REG_PID ]]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
        REG_PID=
    fi
}

# Starts docker-registry on $PORT with empty storage (the previous one, if
# any, stopped and its storage deleted).
fresh_registry() {
    stop_registry
    rm -rf "$WORK/data"
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/data
  delete:
    enabled: true
http:
  addr: $REG
EOF
    docker-registry serve "$WORK/registry.yml" >>"$WORK/registry.log" 2>&1 &
    REG_PID=$!
    local i
    for i in $(seq 100); do
        curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && return 0
        kill -0 "$REG_PID" 2>/dev/null || die "docker-registry exited: $(tail -n 5 "$WORK/registry.log")"
        sleep 0.1
    done
    die "docker-registry did not answer on $REG in 10 s"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $PROXY_PID ]]; then
        kill "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    stop_registry
    docker image ls --format '{{.Repository}}:{{.Tag}}' |
        grep -E "^(127\.0\.0\.1:[0-9]+/bench-[a-z]+-$$-[0-9]+:|berth-bench-push:$$\$)" |
        xargs -r docker rmi >/dev/null 2>&1 || true
    if ((rc != 0)); then
        say "push.sh failed (exit $rc); last lines of its log:"
        tail -n 20 "$LOG" >&2 || true
        tail -n 5 "$WORK/registry.log" >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
# Median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# The stored digest of <repo>:<reference> on registry <host>.
head_digest() {
    curl -fsSI -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
        "http://$1/v2/$2/manifests/$3" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}
# Client->server bytes the proxy counted since the last call (and resets).
proxy_up() {
    python3 - "$CONTROL" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"reset\n")
line = s.makefile().readline()
print(dict(kv.split("=") for kv in line.split())["up"])
EOF
}

say "building the image: $BASE + ${SIZE} MiB of random data…"
mkdir -p "$WORK/image"
printf 'FROM %s\nRUN dd if=/dev/urandom of=/random.bin bs=1048576 count=%s 2>/dev/null\n' "$BASE" "$SIZE" \
    >"$WORK/image/Dockerfile"
# The classic builder uses the local busybox:1.36; BuildKit (Docker 20.10)
# would ask Docker Hub for its metadata.
DOCKER_BUILDKIT=0 quiet docker build -q -t "$IMAGE" "$WORK/image" || die "docker build of the bench image failed"
IMAGE_MB=$(($(docker image inspect --format '{{.Size}}' "$IMAGE") / 1048576))

# ------------------------------------------------ (a) bytes per extra tag ---

say "(a) bytes per extra tag, through the counting proxy…"
fresh_registry
python3 "$ROOT/benches/tcpcount.py" --target "$REG" --ready "$WORK/proxy.ready" 2>>"$LOG" &
PROXY_PID=$!
for _ in $(seq 100); do [[ -s $WORK/proxy.ready ]] && break; sleep 0.05; done
[[ -s $WORK/proxy.ready ]] || die "tcpcount.py did not start"
read -r PROXY CONTROL <"$WORK/proxy.ready"
VIA=127.0.0.1:$PROXY

SRC=$REG/bench-retag-$$-1
quiet docker tag "$IMAGE" "$SRC:src"
quiet docker push "$SRC:src" || die "docker push $SRC:src failed"
quiet docker rmi "$SRC:src"
SRC_DIGEST=$(head_digest "$REG" "bench-retag-$$-1" src)
[[ $SRC_DIGEST == sha256:* ]] || die "no digest for $SRC:src"

tags=()
for i in $(seq "$TAGS"); do tags+=("x$i"); done
proxy_up >/dev/null
"$RETAG" "$VIA/bench-retag-$$-1:src" "${tags[@]}" >"$WORK/retag.out" 2>>"$LOG" || die "retag_bytes failed"
BERTH_WIRE=$(proxy_up)
BERTH_OWN=$(awk '$1 == "total" { print $2 }' "$WORK/retag.out")
for t in "${tags[@]}"; do
    d=$(head_digest "$REG" "bench-retag-$$-1" "$t")
    [[ $d == "$SRC_DIGEST" ]] || die "tag $t has digest ${d:-none}, not $SRC_DIGEST"
done
BERTH_PER_TAG=$((BERTH_WIRE / TAGS))
BERTH_OWN_PER_TAG=$((BERTH_OWN / TAGS))

# docker: tag locally and push each extra tag (the layers are there already).
quiet docker pull "$VIA/bench-retag-$$-1:src" || die "docker pull through the proxy failed"
proxy_up >/dev/null
for i in $(seq "$TAGS"); do
    quiet docker tag "$VIA/bench-retag-$$-1:src" "$VIA/bench-retag-$$-1:d$i"
    quiet docker push "$VIA/bench-retag-$$-1:d$i" || die "docker push of extra tag d$i failed"
done
DOCKER_WIRE=$(proxy_up)
DOCKER_PER_TAG=$((DOCKER_WIRE / TAGS))
for i in $(seq "$TAGS"); do quiet docker rmi "$VIA/bench-retag-$$-1:d$i"; done
quiet docker rmi "$VIA/bench-retag-$$-1:src"
d=$(head_digest "$REG" "bench-retag-$$-1" d1)
[[ $d == "$SRC_DIGEST" ]] || die "docker's extra tag has digest ${d:-none}, not $SRC_DIGEST"
kill "$PROXY_PID" 2>/dev/null || true
wait "$PROXY_PID" 2>/dev/null || true
PROXY_PID=

# ---------------------------------------------------- (b) first push time ---

# Pushes $IMAGE with tool $1 to a fresh repository of an empty registry;
# sets PUSH_S to the wall time in seconds. (Not run in a subshell: the
# registry it restarts must stay this shell's child.)
first_push() {
    local tool=$1 run=$2 ref t0 t1 stored
    fresh_registry
    ref=$REG/bench-$tool-$$-$run:1
    quiet docker tag "$IMAGE" "$ref"
    t0=$(now_ns)
    case $tool in
    docker) quiet docker push "$ref" || die "docker push $ref failed" ;;
    berth) quiet "$ENGINE_PUSH" "$ref" || die "engine_push $ref failed" ;;
    esac
    t1=$(now_ns)
    quiet docker rmi "$ref"
    stored=$(du -sm "$WORK/data" | cut -f1)
    ((stored >= SIZE)) || die "$tool stored only $stored MiB in the registry: layers were not uploaded"
    PUSH_S=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')
}

say "(b) first push of the ${IMAGE_MB} MiB image, $RUNS runs per tool…"
: >"$WORK/docker.times"
: >"$WORK/berth.times"
for run in $(seq "$RUNS"); do
    if ((run % 2)); then order=(docker berth); else order=(berth docker); fi
    for tool in "${order[@]}"; do
        first_push "$tool" "$run"
        echo "$PUSH_S" >>"$WORK/$tool.times"
        say "  run $run: $tool $PUSH_S s"
    done
done
stop_registry
DOCKER_S=$(median <"$WORK/docker.times")
BERTH_S=$(median <"$WORK/berth.times")
RATIO=$(awk -v b="$BERTH_S" -v d="$DOCKER_S" 'BEGIN { printf "%.2f", b / d }')

# ------------------------------------------------------------------ table ---

verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo missed; fi; }
printf '\n%-58s %12s\n' "measurement" "value"
printf '%-58s %12s\n' "----------------------------------------------------------" "------------"
printf '%-58s %10s B\n' "(a) per extra tag, berth retag (proxy count)" "$BERTH_PER_TAG"
printf '%-58s %10s B\n' "    per extra tag, berth retag (berth's own count)" "$BERTH_OWN_PER_TAG"
printf '%-58s %10s B\n' "    per extra tag, docker tag + docker push" "$DOCKER_PER_TAG"
printf '%-58s %10s s\n' "(b) first push, ${IMAGE_MB} MiB, docker push (median of $RUNS)" "$DOCKER_S"
printf '%-58s %10s s\n' "    first push, ${IMAGE_MB} MiB, berth engine push (median of $RUNS)" "$BERTH_S"
printf '\n%-40s %-16s %s\n' "target" "measured" ""
printf '%-40s %-16s %s\n' "----------------------------------------" "----------------" "------"
printf '%-40s %-16s %s\n' "bytes per extra tag <= $TARGET_BYTES" "$BERTH_PER_TAG B" \
    "$(verdict "$BERTH_PER_TAG <= $TARGET_BYTES")"
printf '%-40s %-16s %s\n' "berth first push / docker push <= ${TARGET_RATIO}x" "${RATIO}x" \
    "$(verdict "$RATIO <= $TARGET_RATIO")"
