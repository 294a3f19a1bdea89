#!/usr/bin/env bash
# Builds the container image `ebb:<version>` (and `ebb:latest`) without a registry: the clean
# Debian 12 root of ci/rootfs.sh, with the .deb installed by apt (so its Depends come from
# Debian's archive), imported with `podman import`. The Kubernetes CronJob template runs it.
#
#   ci/image.sh dist/ebb_<version>_amd64.deb        prints the image name (ebb:<version>, "+" as "-")
#   podman push ebb:<version> registry.example.com/ebb:<version>     (then use that name)
#
# Needs root, podman, and what ci/rootfs.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "${1:?usage: ci/image.sh path/to/ebb_<version>_amd64.deb}")
source ci/packages.sh
ensure_packages podman runc   # podman here runs only with --runtime runc
version=$(dpkg-deb -f "$deb" Version)
image="ebb:${version//+/-}"   # an image tag cannot hold "+"

root=$(mktemp -d /tmp/ebb-image-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
bash ci/rootfs.sh extract "$root"
cp "$deb" "$root/tmp/ebb.deb"
bash ci/rootfs.sh run --net "$root" sh -ec '
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends /tmp/ebb.deb >/dev/null
    apt-get clean
    rm -rf /var/lib/apt/lists/* /tmp/ebb.deb
    ebb --version >/dev/null'
: > "$root/etc/resolv.conf"   # the container runtime provides its own
tar --numeric-owner -C "$root" -c . | podman import \
    --change 'CMD ["ebb", "--help"]' --change 'WORKDIR /work' \
    --message "Ebb $version on Debian 12" - "$image" >/dev/null
podman tag "$image" ebb:latest
echo "$image"
