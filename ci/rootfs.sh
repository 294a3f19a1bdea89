#!/usr/bin/env bash
# A clean Debian 12 root (mmdebstrap --variant=apt: essential packages and apt, no Swift) for
# proving that the packages install and run on a machine that never saw a Swift toolchain.
#
#   ci/rootfs.sh tarball              builds the root once and prints the cached tarball's path
#                                     (.cache/rootfs/, git-ignored, keyed by the build's inputs)
#   ci/rootfs.sh extract DIR          unpacks a fresh copy of the root into DIR
#   ci/rootfs.sh run [--net] DIR CMD...
#                                     runs CMD chrooted into DIR, in mount and pid namespaces of
#                                     its own (/proc and /dev mounted there vanish with it, even
#                                     when CMD fails or is killed). Without --net, in a network
#                                     namespace with only loopback, so that ports of the root's
#                                     services cannot meet the host's; --net shares the host's
#                                     network (for apt) and copies its resolv.conf in.
#
# The root uses the same archive as this machine (deb.debian.org: bookworm, -updates, -security).
# Needs root, mmdebstrap and unshare (util-linux).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

suite=bookworm
mirrors=(
    "deb http://deb.debian.org/debian bookworm main"
    "deb http://deb.debian.org/debian bookworm-updates main"
    "deb http://deb.debian.org/debian-security bookworm-security main"
)
# Keep apt's lists: the tests run `apt-get update` anyway, this only makes it quicker.
options=(--variant=apt --skip=cleanup/apt/lists --format=tar)

tarball() {
    source "$repo/ci/packages.sh"
    ensure_packages mmdebstrap iproute2 >&2
    local key
    key=$(printf '%s\n' "$suite" "${options[@]}" "${mirrors[@]}" "$(mmdebstrap --version)" | sha256sum | cut -c1-12)
    local cache="$repo/.cache/rootfs"
    local out="$cache/debian-$suite-apt-$key.tar"
    mkdir -p "$cache"
    # Tests extract roots in parallel: one builds, the others wait for it.
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -s "$out" ]; then
        echo "rootfs: building $out with mmdebstrap (once; later runs reuse it)" >&2
        mmdebstrap --quiet "${options[@]}" "$suite" "$out.part" "${mirrors[@]}" >&2
        mv "$out.part" "$out"
    fi
    exec 9>&-
    echo "$out"
}

extract() {
    local dir=$1
    local tar
    tar=$(tarball)
    mkdir -p "$dir"
    tar -C "$dir" -xf "$tar"
}

run() {
    local net=0
    if [ "${1:-}" = --net ]; then net=1; shift; fi
    local dir=$1
    shift
    [ -x "$dir/bin/sh" ] || { echo "rootfs: $dir is not a root (no bin/sh)" >&2; return 2; }
    local unshare=(unshare --mount --pid --fork)
    if [ $net = 1 ]; then
        cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    else
        unshare+=(--net)
    fi
    # The inner shell is pid 1 of the new pid namespace: its /proc shows only the root's processes.
    "${unshare[@]}" /bin/sh -ec '
        dir=$1; net=$2; shift 2
        mount --make-rprivate /
        mount -t proc proc "$dir/proc"
        mount --bind /dev "$dir/dev"
        [ "$net" = 1 ] || ip link set lo up
        exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ' rootfs "$dir" "$net" "$@"
}

command=${1:-}
shift || true
case "$command" in
    tarball) tarball ;;
    extract) extract "$@" ;;
    run) run "$@" ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
