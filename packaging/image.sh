#!/usr/bin/env bash
# Builds the container image berth:<version> (also tagged berth:latest),
# entrypoint `berth`, without pulling anything: the release binary (the
# build deb.sh shares, packaging/release.sh) on a base made here with
# `docker import` of a minimal root file system — the binary's shared
# libraries (ldd), CA certificates, and git with its https helper when this
# machine has /usr/bin/git. packaging/Dockerfile's `minimal` target.
#   bash packaging/image.sh          prints the image name last
# Environment: BERTH_IMAGE  repository to tag (default: berth)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${BERTH_IMAGE:-berth}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
bin=$(bash packaging/release.sh | tail -n1)

work=$(mktemp -d)
base="berth-base:$version-$$"
cleanup() {
    rm -rf "$work"
    # Only a tag: the image built on it keeps the layer.
    docker rmi "$base" >/dev/null 2>&1 || true
}
trap cleanup EXIT
root=$work/rootfs
mkdir -p "$root"

# A file with its path, symlinks followed (a library's soname link becomes
# the file itself).
add() { cp --parents -L "$1" "$root/"; }
# An executable and every shared library it loads, the loader included.
add_exe() {
    add "$1"
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
        while read -r lib; do add "$lib"; done
}

for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
    add "$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    add /etc/ssl/certs/ca-certificates.crt
else
    echo "image.sh: no /etc/ssl/certs/ca-certificates.crt here (apt-get install ca-certificates): \
the image cannot check registries' TLS certificates" >&2
fi
# git for a remote `berth watch` that fetches with git itself; https through
# git-remote-https. ssh remotes would need ssh too: not included.
if [ -x /usr/bin/git ]; then
    add_exe /usr/bin/git
    for helper in /usr/lib/git-core/git-remote-http /usr/lib/git-core/git-remote-https; do
        [ -x "$helper" ] && add_exe "$helper"
    done
fi
mkdir -p "$root/tmp" "$root/var/lib/berth" "$root/root" "$root/repo"
chmod 1777 "$root/tmp"
chmod 0700 "$root/var/lib/berth" "$root/root"
printf 'root:x:0:0:root:/root:/usr/bin/berth\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"

echo "image.sh: importing the base $base ($(du -sh "$root" | cut -f1))…" >&2
tar -C "$root" --numeric-owner --owner=0 --group=0 -c . | docker import - "$base" >/dev/null

context=$work/context
mkdir -p "$context"
cp "$bin" "$context/berth"
DOCKER_BUILDKIT=0 docker build -q -f packaging/Dockerfile --target minimal --build-arg "BASE=$base" \
    -t "$image:$version" -t "$image:latest" "$context" >&2
echo "$image:$version"
