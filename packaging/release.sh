#!/usr/bin/env bash
# The one release build that deb.sh and image.sh share: `cargo build
# --release` (a no-op when it is current), then the files generated from the
# binary into target/assets/: man pages (berth.1 and one per subcommand) and
# the bash, zsh and fish completion scripts.
#   bash packaging/release.sh        prints the binary's path last
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked >&2
bin=target/release/berth
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" manpages --out "$assets/man" >/dev/null
"$bin" completions bash >"$assets/completions/berth.bash"
"$bin" completions zsh >"$assets/completions/_berth"
"$bin" completions fish >"$assets/completions/berth.fish"
echo "$bin"
