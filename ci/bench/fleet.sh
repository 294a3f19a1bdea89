#!/usr/bin/env bash
# Remote hosts benchmark (root): for each COUNT, COUNT hosts built by Scenarios/fleet/hosts.sh
# (network namespaces running Debian's sshd), then `ebb run` of one network.partition on all
# of them, twice: cold (Ebb's binary not yet on the hosts, no ssh connection) and warm.
# Prints the time from the scenario's start to its hold (connect, ship, arm, inject on every
# host) and the run's wall time. Then, on one host, the link is cut right after injection:
# prints the time from the cut to the host's own revert, and how late that was past the
# fault's deadline (hold + grace from injection).
# The hosts share this machine's filesystem, so "cold" copies the binary to one ~/.cache/ebb
# that every host sees: on real hosts each would receive its own copy.
# Usage: sudo ci/bench/fleet.sh [COUNT ...]   (default: 1 10 30)
# EBB_BIN=path measures that binary instead of a fresh release build (e.g. dist's packaged one).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root (network namespaces, nft)" >&2; exit 1; }
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}" openssh-client openssh-server nftables iproute2
if [ -n "${EBB_BIN:-}" ]; then
    ebb=$EBB_BIN
else
    swift build -c release --static-swift-stdlib --product ebb -q
    ebb="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
fi
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 10 30)
work=$(mktemp -d /tmp/ebb-fleet-bench.XXXXXX)
# Runs copy their records to a host registry: keep them out of the machine's own.
export EBB_REGISTRY_DIR="${EBB_REGISTRY_DIR:-$work/registry}"
prefix=ebbbench net=10.229.0 hosts_pid=""

stop_hosts() {
    if [ -n "$hosts_pid" ]; then
        kill "$hosts_pid" 2>/dev/null || true
        wait "$hosts_pid" 2>/dev/null || true
        hosts_pid=""
    fi
}
trap 'stop_hosts; rm -rf "$work"' EXIT

start_hosts() { # COUNT
    EBB_EXECUTABLE=$ebb sh Scenarios/fleet/hosts.sh "$prefix" "$1" "$work/keys" "$net" > "$work/hosts.log" 2>&1 &
    hosts_pid=$!
    for _ in $(seq 600); do [ -e "$work/keys/ready" ] && return 0; sleep 0.1; done
    echo "fleet.sh: the hosts did not come up:" >&2; cat "$work/hosts.log" >&2; exit 1
}

write_suite() { # COUNT HOLD
    {
        echo "suite: fleet-bench"
        echo "hosts:"
        for i in $(seq "$1"); do
            cat <<EOF
  - name: h$i
    address: $net.$((10 + i))
    user: root
    identity: $work/keys/id_ed25519
    known_hosts: $work/keys/known_hosts
    ssh: [ip, netns, exec, $prefix-cli, ssh]
    state_dir: $work/remote-state
    labels: { bench: "yes" }
EOF
        done
        cat <<EOF
scenarios:
  - name: partition
    duration: $2
    faults:
      - network.partition: { direction: ingress, port: 8080, action: reject }
        hosts: { bench: "yes" }
EOF
    } > "$work/suite.yaml"
}

# Seconds from scenario-started to holding, from the JSON events on stdin.
to_hold='import json, sys, datetime
t = {}
for line in sys.stdin:
    try: e = json.loads(line)
    except ValueError: continue
    t.setdefault(e.get("event"), datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")))
print("%.3f" % (t["holding"] - t["scenario-started"]).total_seconds() if "holding" in t else "n/a")'

run_once() { # LABEL COUNT
    local start end status
    start=$(date +%s.%N)
    status=0
    "$ebb" run "$work/suite.yaml" --log-format json --state-dir "$work/state" --report-dir "$work/reports" > "$work/events.jsonl" 2> "$work/stderr" || status=$?
    end=$(date +%s.%N)
    printf '%-6s %6s hosts   to hold %7s s   wall %6.3f s   exit %s\n' "$1" "$2" "$(python3 -c "$to_hold" < "$work/events.jsonl")" \
        "$(python3 -c "print($end - $start)")" "$status"
    [ "$status" = 0 ] || { tail -5 "$work/stderr" >&2; grep -h '"status":"error"' "$work/events.jsonl" | head -3 >&2; }
}

echo "== inject one fault on N hosts ($ebb, $(nproc) cores)"
for count in "${counts[@]}"; do
    start_hosts "$count"
    write_suite "$count" 1s
    rm -rf "$HOME/.cache/ebb/"*/ "$work/state" "$work/remote-state"
    run_once cold "$count"
    run_once warm "$count"
    stop_hosts
done

echo "== link cut right after injection: the host reverts on its own (hold 2s, grace 2s)"
start_hosts 1
write_suite 1 2s
rm -rf "$work/state" "$work/remote-state"
"$ebb" run "$work/suite.yaml" --deadline-grace 2s --log-format json --state-dir "$work/state" --report-dir "$work/reports" \
    > "$work/events.jsonl" 2> "$work/stderr" &
runner=$!
until grep -q '"event":"holding"' "$work/events.jsonl" 2>/dev/null; do sleep 0.01; done
ip -n "$prefix-cli" link set "$prefix-v1" down
cut=$(date +%s.%N)
until nft_out=$(ip netns exec "$prefix-h1" nft list tables) && ! grep -q "ebb_" <<<"$nft_out"; do sleep 0.01; done
gone=$(date +%s.%N)
wait "$runner" || echo "runner exit $? (2 expected: the host was lost)"
python3 - "$work/remote-state" "$cut" "$gone" <<'EOF'
import datetime, glob, json, sys
root, cut, gone = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
record = json.load(open(sorted(glob.glob(root + "/rollback/*/0*.json"))[0]))
stamp = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print("cut -> table gone %.3f s; reverted by: %s; past its deadline by %.3f s"
      % (gone - cut, record.get("revertedBy"), stamp(record["finishedAt"]) - stamp(record["deadline"])))
EOF
ip -n "$prefix-cli" link set "$prefix-v1" up
(cd "$work" && "$ebb" rollback execute --all --state-dir "$work/state" > /dev/null) && echo "rollback execute: exit 0 (confirmed through the host's journal)"
