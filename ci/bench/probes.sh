#!/usr/bin/env bash
# Benchmark: probe cadence fidelity and outage measurement, with a release build.
#  1. A 10 ms HTTP probe against the demo target for 10 s: how late samples start against their
#     fixed schedule (p50/p99 of started - scheduled) and how many ticks were missed.
#  2. The demo target paused for 200 ms under a 10 ms probe, N times: the reported downtime
#     window against the true pause (the pause fault's injectedAt .. revertedAt in the journal).
# Measures, asserts nothing. Usage: ci/bench/probes.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-5}
swift build -c release --static-swift-stdlib --product ebb -q
ebb="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
work=$(mktemp -d)
# Runs copy their records to a host registry: keep them out of the machine's own.
export EBB_REGISTRY_DIR="${EBB_REGISTRY_DIR:-$work/registry}"
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

suite() {  # suite HOLD FAULT
    cat <<YAML
suite: probe-bench
setup:
  - name: demo
    command: [ebb, demo-target, --port, "$port"]
    ready: { http: "http://127.0.0.1:$port/healthz", timeout: 20s }
checks:
  - name: api
    http: { url: "http://127.0.0.1:$port/healthz", timeout: 100ms }
    interval: 10ms
    phases: [during]
scenarios:
  - name: bench
    duration: $1
    faults:
      - $2
YAML
}

suite 10s "command: { inject: [true], rollback: [true] }" > "$work/cadence.yaml"
"$ebb" run "$work/cadence.yaml" --state-dir "$work/state" --report-dir "$work/cadence" --log-format json --no-guardian > "$work/cadence.jsonl" 2>/dev/null || true
python3 - "$work/cadence.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event.get("event") == "step" and event["name"] == "check: api (during)":
        p = event["properties"]
        print(f"cadence: 10 ms probe for 10 s: {p['samples']} samples, start lag p50 {p['scheduleLagP50Ms']} ms, "
              f"p99 {p['scheduleLagP99Ms']} ms, missed ticks {p['missedTicks']}")
PY

suite 200ms "process.pause: { fixture: demo }" > "$work/outage.yaml"
for i in $(seq "$repeats"); do
    "$ebb" run "$work/outage.yaml" --state-dir "$work/state" --report-dir "$work/outage-$i" --quiet --no-guardian >/dev/null 2>&1 || true
done
python3 - "$work" "$repeats" <<'PY'
import json, sys, statistics
from datetime import datetime
def t(text): return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
errors = []
for i in range(1, int(sys.argv[2]) + 1):
    summary = json.load(open(f"{sys.argv[1]}/outage-{i}/rollback-summary.json"))
    pause = next(f for f in summary["faults"] if f["plugin"] == "process.pause")
    truth = (t(pause["revertedAt"]) - t(pause["injectedAt"])) * 1000
    windows = next(c for c in summary["checks"] if c["name"] == "check: api (during)")["windows"]
    measured = sum((t(w["end"]) - t(w["start"])) * 1000 for w in windows)
    errors.append(measured - truth)
    print(f"outage {i}: true {truth:.1f} ms, measured {measured:.1f} ms in {len(windows)} window(s), error {measured - truth:+.1f} ms")
print(f"outage: median error {statistics.median(errors):+.1f} ms, worst {max(errors, key=abs):+.1f} ms over {len(errors)} runs")
PY
echo "($(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ))"
