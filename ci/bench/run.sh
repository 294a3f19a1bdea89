#!/usr/bin/env bash
# The benchmark: one command that builds Ebb in release mode, installs Chaos Toolkit in a venv
# under its work dir, measures start-up, runner overhead, journal cost and rollback latency at
# scale side by side, collects the other benchmarks (JUnit, probes, crash torture), and writes
# reports/bench.json and reports/bench.md. Measures, asserts nothing; not part of .ci/run.
# Usage: ci/bench/run.sh [--quick]   (--quick: fewer repeats, 100 instead of 1,000 faults)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}" time python3-venv
swift build -c release --product ebb >/dev/null
export EBB_RELEASE_BIN="$(swift build -c release --show-bin-path)/ebb"
exec /usr/bin/python3 ci/bench/bench.py "$@"
