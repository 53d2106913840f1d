#!/usr/bin/env bash
# Quick start: deploy example-repo/ on this machine's Docker engine.
# Installs Docker (Debian's docker.io) and starts dockerd when no engine
# answers, and leaves it running; makes the offline stand-in for busybox:1.36
# when the image is absent (on a machine with internet access berth would pull
# the real one); builds berth; then `berth apply example-repo --auto-approve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=engine.sh
source scripts/engine.sh

section "Stand-in images"
bash tests/fixtures/make-images.sh

section "Building berth (release)"
cargo build --release --locked

section "berth apply example-repo --auto-approve"
./target/release/berth apply example-repo --auto-approve

section "Done"
echo "The shop answers on http://localhost:8080/ and :8081, the built status app on :8090; try:"
echo "  ./target/release/berth plan example-repo      # No changes."
echo "  ./target/release/berth drift example-repo     # exit 2 once something drifts"
