#!/usr/bin/env bash
# Builds the Debian package target/debian/berth_<version>_<arch>.deb with
# cargo-deb (installed with `cargo install --locked cargo-deb` when
# missing); what goes in is [package.metadata.deb] in Cargo.toml.
#   bash packaging/deb.sh            prints the .deb's path last
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "deb.sh: installing cargo-deb (cargo install --locked cargo-deb)…" >&2
    cargo install --locked cargo-deb >&2
fi
# cargo-deb computes Depends: with dpkg-shlibdeps (dpkg-dev).
if ! command -v dpkg-shlibdeps >/dev/null; then
    echo "deb.sh: installing dpkg-dev (for dpkg-shlibdeps)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpkg-dev >&2
fi

bash packaging/release.sh >/dev/null
# Man pages are gzipped here, as Debian wants them (-n: no name or time
# inside, so the same input gives the same bytes).
gzip -9n target/assets/man/*.1
gzip -9n <packaging/debian/changelog >target/assets/changelog.gz
cargo deb --no-build --locked >&2
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
deb="target/debian/berth_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { echo "deb.sh: cargo-deb did not make $deb; see its output above" >&2; exit 1; }
echo "$deb"
