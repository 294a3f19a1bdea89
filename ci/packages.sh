# Sourced by ci/test.sh and ci/demo.sh: installs the Debian packages Ebb needs, once.
# Usage: ensure_packages NAME...   (apt-get update runs at most once, and only when something is missing)

ensure_packages() {
    local missing=()
    local name
    for name in "$@"; do
        dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || missing+=("$name")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "ebb: missing Debian packages: ${missing[*]}; install them as root (apt-get install -y ${missing[*]})" >&2
        return 1
    fi
    echo "ebb: installing ${missing[*]}"
    if [ -z "${EBB_APT_UPDATED:-}" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        export EBB_APT_UPDATED=1
    fi
    # Wait for another apt (a colleague's, unattended-upgrades) instead of failing on its lock.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
}

# Build-time needs: libxml2 headers for the JUnit writer, libnetfilter_queue for the
# user-space packet delayer (network.delay without netem), pkg-config to find them.
EBB_BUILD_PACKAGES=(libxml2-dev libnetfilter-queue-dev pkg-config)
