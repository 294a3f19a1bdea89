#!/usr/bin/env bash
# Crash torture benchmark: SIGKILLs `ebb run` at random moments TRIALS times and reports
# leftovers (must be 0) and the distribution of time from SIGKILL to verified revert by the
# guardian. ci/test.sh runs the same test with a handful of trials.
# Usage: ci/bench/torture.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}"
swift build --build-tests >/dev/null
export EBB_BIN="$(swift build --show-bin-path)/ebb"
EBB_TORTURE_TRIALS=${1:-200} swift test --filter CrashTortureTests 2>&1 | grep -E "torture:|passed|failed" | grep -v "^◇"
