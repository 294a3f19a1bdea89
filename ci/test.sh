#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit tests per module and the
# end-to-end tests that run the built `ebb` binary. CI runs exactly this (through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/packages.sh

# chattr (e2fsprogs) makes a file immutable for the failing-undo test; procps gives ps/pgrep
# for people debugging a run; libxml2-utils brings xmllint for report validation; the
# telemetry tests start a real Prometheus and Pushgateway (their binaries only: no service is
# enabled, the tests start and stop them on 127.0.0.1); curl fetches from them; Debian's
# python3-jsonschema and python3-yaml check `ebb schema` against the example suites and
# parse the CI templates; groovy compiles the Jenkinsfile template. The network fault tests
# drive nft, iptables(-nft) and tc inside namespaces they create and measure with ping and
# curl; the hog faults use stress-ng when it is installed. The HTML report tests open
# reports/report.html in Debian's chromium (headless: a screenshot and the DOM). The package tests unpack the .deb
# (dpkg-dev, binutils' objdump and readelf), install it in a clean Debian root made by
# mmdebstrap (ci/rootfs.sh), and run the container image of ci/image.sh with podman (runc:
# the only runtime podman works with on this machine kind). The fleet tests' hosts are network
# namespaces running Debian's sshd (openssh-server), reached with its ssh (openssh-client).
ensure_packages "${EBB_BUILD_PACKAGES[@]}" e2fsprogs procps libxml2-utils prometheus prometheus-pushgateway curl \
    python3-jsonschema python3-yaml groovy nftables iptables iproute2 iputils-ping stress-ng \
    dpkg-dev binutils mmdebstrap podman runc chromium openssh-client openssh-server

# The Kubernetes tests run against kmock's KubernetesEmulator (PyPI, MIT), extended by
# ci/kube-emulator/kube_emulator.py. It is pinned and lives in a virtualenv of the clone's own
# (.ci-venv, git-ignored), made from Debian's python3 once and reused while the pin matches.
# The same virtualenv holds mermaidx (PyPI), which runs Mermaid's own mermaid.js in an
# embedded QuickJS, offline: the tests parse the Markdown summary's gantt timelines with it.
# And moto (PyPI, Apache-2.0), whose server is the EC2 API the cloud.aws.* tests and
# Scenarios/aws-nodes.yaml run against (Scenarios/aws-nodes/ec2_emulator.py, on 127.0.0.1).
KMOCK_VERSION=0.8
MERMAIDX_VERSION=0.10.1
MOTO_VERSION=5.2.5
ensure_packages python3-venv
if ! .ci-venv/bin/python -c "import sys, importlib.metadata as m; sys.exit(m.version('kmock') != '$KMOCK_VERSION' or m.version('mermaidx') != '$MERMAIDX_VERSION' or m.version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
    /usr/bin/python3 -m venv .ci-venv
    .ci-venv/bin/pip install --quiet --disable-pip-version-check "kmock==$KMOCK_VERSION" "mermaidx==$MERMAIDX_VERSION" "moto[server]==$MOTO_VERSION"
fi
export EBB_KUBE_PYTHON="$PWD/.ci-venv/bin/python"
export EBB_MERMAID_PYTHON="$PWD/.ci-venv/bin/python"
export EBB_AWS_PYTHON="$PWD/.ci-venv/bin/python"

# The release artifacts (dist/): PackageTests and TemplateTests install the .deb in a clean
# Debian root. EBB_SKIP_PACKAGE=1 leaves them out (those tests then say why they skip).
if [ "${EBB_SKIP_PACKAGE:-}" != 1 ]; then
    bash ci/package.sh
    export EBB_DEB=$(ls "$PWD"/dist/ebb_*_amd64.deb)
    bash ci/rootfs.sh tarball   # the clean root, built once before the tests extract copies in parallel
fi

swift build --build-tests
export EBB_BIN="$(swift build --show-bin-path)/ebb"
# Runs the tests start copy their records to a host registry (see HostRegistry); keep those out of
# the machine's own /var/lib/ebb/registry, which a real sweep timer would act on.
# Removed once every test passed; kept after a failure, to show what the runs recorded.
if [ -z "${EBB_REGISTRY_DIR:-}" ]; then
    EBB_REGISTRY_DIR="$(mktemp -d /tmp/ebb-test-registry.XXXXXX)"
    trap '[ "${status:-1}" != 0 ] || rm -rf "$EBB_REGISTRY_DIR"' EXIT
fi
export EBB_REGISTRY_DIR
# Suites that judge time (downtime windows, added latency, sampling cadence, CPU shares, rates)
# run in a pass of their own: beside the suites that load the machine on purpose (CPU hogs,
# clean-root installs, emulators, the torture) a 2-core runner answers a health probe late,
# and they would measure that load instead of Ebb (the proxy example's latency toxics against its
# downtime SLO did, in CI: 2.01 s against 2 s).
timed='CheckTests|HTMLReportTests|SamplerTests|ProxyToxicTests|ProxyHTTPTests|EndToEndTests\.ProxyTests|ThrottleTests|NetworkTests|FleetTests'
status=0
# The tree stays as .swift-format has it (CONTRIBUTING.md); a deviation fails the run after the tests.
swift format lint --strict --recursive Sources Tests Package.swift || status=1
swift test --skip "$timed" || status=1
swift test --filter "$timed" || status=1
exit $status
