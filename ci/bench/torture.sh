#!/usr/bin/env bash
# Crash torture benchmark, TRIALS trials of each of four tests (ci/test.sh runs them with 6):
#  - `ebb run` SIGKILLed at a random moment: the guardian must revert everything; reports
#    leftovers (must be 0) and the time from SIGKILL to verified revert;
#  - runner and guardian SIGKILLed together at a random moment, then a fresh
#    `ebb rollback execute --all`: it must revert everything from the journal alone;
#  - the same, with the state directory deleted too, then `ebb rollback sweep` once the
#    deadlines passed: it must revert everything from the host registry alone;
#  - the same with no registry either (root only): the sweep must take back every cgroup, nft
#    table and qdisc from the expiry marked on it.
# Usage: ci/bench/torture.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}"
swift build --build-tests >/dev/null
export EBB_BIN="$(swift build --show-bin-path)/ebb"
export EBB_REGISTRY_DIR="$(mktemp -d /tmp/ebb-torture-registry.XXXXXX)"
trap 'rm -rf "$EBB_REGISTRY_DIR"' EXIT
EBB_TORTURE_TRIALS=${1:-200} swift test --filter CrashTortureTests 2>&1 | grep -E "torture:|passed|failed" | grep -v "^◇"
