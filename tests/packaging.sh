#!/usr/bin/env bash
# Packaging tests, run by tests/run.sh after `cargo test` (they need the
# release build, minutes on a small machine, so they are not in cargo test):
#   deb    packaging/deb.sh builds the .deb; its contents (dpkg-deb -c);
#          installed with `dpkg -x` into a scratch root; the installed
#          `berth --version`, man pages, completions (bash -n, zsh -n,
#          fish --no-execute) and systemd units (systemd-analyze verify);
#          lintian: no error or warning that packaging/README.md does not justify.
#   image  packaging/image.sh builds the image (under a tag of its own,
#          removed after); through the engine socket it plans, applies and
#          plans again (empty) a repository mounted into it.
#   bash tests/packaging.sh [deb|image]...     default: both
# Exits non-zero when any check failed. Needs a Docker engine (run.sh starts one).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*" >&2; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: one check, its output shown when it fails.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$what"; else bad "$what"; echo "$out" | tail -n 30 >&2; fi
}
have() { command -v "$1" >/dev/null 2>&1; }
apt_updated=
install() { # install PACKAGE... when apt-get can; never fatal
    if [ -z "$apt_updated" ]; then apt-get update -q >/dev/null 2>&1 || true; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || echo "could not install $*" >&2
}

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
work=$(mktemp -d)
project=pkgtest-$$
image=berth-pkgtest-$$
cleanup() {
    docker ps -aq --filter "label=berth.project=$project" | xargs -r docker rm -f >/dev/null 2>&1
    docker rm -f "berth-lock-$project" >/dev/null 2>&1
    docker network rm "${project}_default" >/dev/null 2>&1
    docker volume ls -q --filter "label=berth.project=$project" | xargs -r docker volume rm >/dev/null 2>&1
    # Release tags berth gave the app's image (berth.local/<project>/<app>:<n>).
    docker images --format '{{.Repository}}:{{.Tag}}' --filter "reference=berth.local/$project/*" |
        xargs -r docker rmi >/dev/null 2>&1
    docker rmi "$image:$version" "$image:latest" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

test_deb() {
    echo "=== deb"
    for tool in lintian zsh fish; do have "$tool" || install "$tool"; done
    have systemd-analyze || install systemd
    local deb
    if ! deb=$(bash packaging/deb.sh | tail -n1) || [ ! -f "$deb" ]; then
        bad "packaging/deb.sh builds the .deb"
        return
    fi
    ok "packaging/deb.sh built $deb"
    [[ $deb == "target/debian/berth_${version}_$(dpkg --print-architecture).deb" ]] &&
        ok "named berth_<version>_<arch>.deb" || bad "named berth_<version>_<arch>.deb: $deb"

    local listing=$work/contents
    dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./||' >"$listing"
    for path in usr/bin/berth usr/share/man/man1/berth.1.gz usr/share/man/man1/berth-plan.1.gz \
        usr/share/man/man1/berth-secrets-keygen.1.gz usr/share/bash-completion/completions/berth \
        usr/share/zsh/vendor-completions/_berth usr/share/fish/vendor_completions.d/berth.fish \
        usr/share/doc/berth/README.md usr/share/doc/berth/copyright usr/share/doc/berth/examples/prod.env; do
        grep -qx "$path" "$listing" && ok "the .deb holds /$path" || bad "the .deb holds /$path"
    done
    for unit in berth-watch@.service berth-drift@.service berth-drift@.timer; do
        grep -Eqx "(usr/)?lib/systemd/system/$unit" "$listing" && ok "the .deb holds $unit" || bad "the .deb holds $unit"
    done

    local root=$work/root
    check "dpkg -x into a scratch root" dpkg -x "$deb" "$root"
    local installed expected
    installed=$("$root/usr/bin/berth" --version 2>&1)
    expected=$(target/release/berth --version 2>&1)
    [[ $installed == "berth $version ("*")" && $installed == "$expected" ]] &&
        ok "the installed berth --version: $installed" || bad "the installed berth --version: '$installed', built: '$expected'"
    zcat "$root/usr/share/man/man1/berth.1.gz" | grep -q '^\.TH' && ok "berth.1.gz is a man page" || bad "berth.1.gz is a man page"
    zcat "$root/usr/share/man/man1/berth-plan.1.gz" | grep -q 'detailed' &&
        ok "berth-plan.1.gz documents plan's flags" || bad "berth-plan.1.gz documents plan's flags"

    check "bash -n on the bash completion" bash -n "$root/usr/share/bash-completion/completions/berth"
    grep -q 'apply' "$root/usr/share/bash-completion/completions/berth" && ok "bash completion names subcommands" ||
        bad "bash completion names subcommands"
    if have zsh; then check "zsh -n on _berth" zsh -n "$root/usr/share/zsh/vendor-completions/_berth"; else
        echo "skipped: zsh not installed, its completion not parsed"; fi
    if have fish; then check "fish --no-execute on berth.fish" fish --no-execute "$root/usr/share/fish/vendor_completions.d/berth.fish"; else
        echo "skipped: fish not installed, its completion not parsed"; fi
    # Completion in a real bash: `berth pl<TAB>` offers plan.
    local words
    words=$(bash -c "source '$root/usr/share/bash-completion/completions/berth'
        COMP_WORDS=(berth pl); COMP_CWORD=1; COMP_LINE='berth pl'; COMP_POINT=8
        _berth berth pl berth; printf '%s\n' \"\${COMPREPLY[@]}\"" 2>&1)
    grep -qx plan <<<"$words" && ok "bash completes 'berth pl' to plan" || bad "bash completes 'berth pl' to plan: $words"

    # The installed units, their berth pointed into the scratch root.
    local unitdir
    unitdir=$(dirname "$(find "$root" -name 'berth-watch@.service' | head -n1)")
    mkdir -p "$work/units"
    for unit in "$unitdir"/berth-*; do
        sed "s|/usr/bin/berth|$root/usr/bin/berth|g" "$unit" >"$work/units/$(basename "$unit")"
        local out
        if out=$(systemd-analyze verify --man=no "$work/units/$(basename "$unit")" 2>&1) && [ -z "$out" ]; then
            ok "systemd-analyze verify $(basename "$unit")"
        else
            bad "systemd-analyze verify $(basename "$unit")"
            echo "$out" >&2
        fi
    done

    if have lintian; then
        # --fail-on warning: an unexplained warning fails; the overrides the
        # package ships say why each accepted tag is fine.
        check "lintian: no error or warning" lintian --fail-on error,warning --no-tag-display-limit "$deb"
        lintian --info "$deb" 2>&1 | sed 's/^/  lintian: /' | head -n 40
    else
        bad "lintian is not installed (apt-get install lintian)"
    fi
}

test_image() {
    echo "=== image"
    if ! BERTH_IMAGE=$image bash packaging/image.sh >/dev/null; then
        bad "packaging/image.sh builds the image"
        return
    fi
    ok "packaging/image.sh built $image:$version"
    check "$image:latest is the same image" test "$(docker image inspect -f '{{.Id}}' "$image:latest")" = \
        "$(docker image inspect -f '{{.Id}}' "$image:$version")"
    local v
    v=$(docker run --rm "$image:latest" --version 2>&1)
    [[ $v == "berth $version ("*")" ]] && ok "docker run $image --version: $v" || bad "docker run $image --version: $v"

    local repo=$work/repo
    mkdir -p "$repo/apps"
    printf 'project: %s\n' "$project" >"$repo/berth.yaml"
    printf 'image: busybox:1.36\nprocesses:\n  web:\n    command: ["sleep", "3600"]\n' >"$repo/apps/web.yaml"
    local run=(docker run --rm -v /var/run/docker.sock:/var/run/docker.sock -v "$repo:/repo:ro" "$image:latest")
    local out
    out=$("${run[@]}" plan /repo 2>&1)
    grep -q "$project-web-web-1" <<<"$out" && grep -q '^Plan: ' <<<"$out" &&
        ok "plan through the image names the container" || { bad "plan through the image"; echo "$out" >&2; }
    out=$("${run[@]}" apply /repo --auto-approve 2>&1) && ok "apply through the image" || { bad "apply through the image"; echo "$out" >&2; }
    [ "$(docker inspect -f '{{.State.Running}}' "$project-web-web-1" 2>&1)" = true ] &&
        ok "the container the image applied runs" || bad "the container the image applied runs"
    out=$("${run[@]}" plan /repo --detailed-exitcode 2>&1) && grep -q 'No changes' <<<"$out" &&
        ok "a second plan through the image is empty" || { bad "a second plan through the image is empty"; echo "$out" >&2; }
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(deb image)
for part in "${parts[@]}"; do
    case $part in
        deb) test_deb ;;
        image) test_image ;;
        *) echo "unknown part $part (deb, image)" >&2; exit 1 ;;
    esac
done
echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
