#!/usr/bin/env bash
# Installs what Ebb needs, builds it, and runs the demo suite (Scenarios/demo.yaml): no root,
# no external services. Checks afterwards that the demo's files are exactly as before.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}"

swift build
ebb="$(swift build --show-bin-path)/ebb"

before=$(sha256sum Scenarios/demo-files/*)
status=0
# --recover: if an earlier demo was killed, take its faults back first instead of refusing.
"$ebb" run Scenarios/demo.yaml --report-dir reports --recover || status=$?
after=$(sha256sum Scenarios/demo-files/*)

if [ "$before" != "$after" ] || [ -n "$(find Scenarios/demo-files -name '.ebb-*')" ]; then
    echo "demo: Scenarios/demo-files is not as it was before the run" >&2
    exit 2
fi
echo
echo "Reports and fixture logs: $(pwd)/reports (open reports/report.html in a browser for the timelines)"
echo "Journal: $(pwd)/.ebb/rollback (inspect with: $ebb rollback list)"
exit "$status"
