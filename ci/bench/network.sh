#!/usr/bin/env bash
# Benchmark: how closely the network faults deliver what they are asked for (root, Linux).
# A sandbox of two namespaces joined by a veth pair (10.232.0.1 serves the demo target,
# 10.232.0.2 measures), removed on exit. For each setting, `ebb run` holds the fault while
# ping or curl measures from the client namespace:
#  1. network.delay (NFQUEUE delayer on the server's egress): median and p99 added round trip
#     over 50 pings, for 1, 10, 50, 100 and 200 ms (1 ms shows the delayer's own cost).
#  2. network.loss on the server's ingress: share of 2,000 pings lost for 10, 30 and 50%.
#  3. network.bandwidth on the server's veth: download rate of 8 s worth of data.
# Measures, asserts nothing. Usage: sudo ci/bench/network.sh   (EBB=path to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${EBB:-}" ]; then
    swift build -c release --static-swift-stdlib --product ebb -q
    EBB="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
fi
work=$(mktemp -d)
# Runs copy their records to a host registry: keep them out of the machine's own.
export EBB_REGISTRY_DIR="${EBB_REGISTRY_DIR:-$work/registry}"
server=ebbb-srv client=ebbb-cli
cleanup() {
    [ -n "${demo:-}" ] && kill "$demo" 2>/dev/null || true
    ip netns delete "$server" 2>/dev/null || true
    ip netns delete "$client" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$server"
ip netns add "$client"
ip link add ebbb-s netns "$server" type veth peer name ebbb-c netns "$client"
ip -n "$server" addr add 10.232.0.1/24 dev ebbb-s
ip -n "$client" addr add 10.232.0.2/24 dev ebbb-c
for ns in "$server" "$client"; do ip -n "$ns" link set lo up; done
ip -n "$server" link set ebbb-s up
ip -n "$client" link set ebbb-c up
ip netns exec "$server" "$EBB" demo-target --host 10.232.0.1 --port 8080 >/dev/null 2>&1 &
demo=$!
until ip netns exec "$client" curl -sf --max-time 1 http://10.232.0.1:8080/healthz >/dev/null; do sleep 0.1; done

# hold FAULT HOLD: starts `ebb run` with one fault and returns once it is injected.
hold() {
    cat > "$work/suite.yaml" <<YAML
suite: network-bench
scenarios:
  - name: bench
    duration: $2
    faults:
      - $1
YAML
    "$EBB" run "$work/suite.yaml" --state-dir "$work/state" --report-dir "$work/reports" > "$work/run.log" 2>&1 &
    run=$!
    until grep -q "holding for" "$work/run.log"; do
        kill -0 "$run" 2>/dev/null || { cat "$work/run.log" >&2; exit 1; }
        sleep 0.05
    done
}
finish() { wait "$run" || { cat "$work/run.log" >&2; exit 1; }; }

rtts() {  # COUNT: sorted round-trip times in ms
    ip netns exec "$client" ping -n -c "$1" -i 0.02 -W 2 10.232.0.1 | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n
}
percentile() { awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p); if (i < 1) i = 1; print v[i] }'; }

base=$(rtts 50 | percentile 0.5)
echo "baseline median RTT: $base ms"
echo
echo "network.delay (NFQUEUE, server egress)   requested  added p50  added p99"
for delay in 1 10 50 100 200; do
    hold "network.delay: { netns: $server, delay: ${delay}ms }" 20s
    times=$(rtts 50)
    p50=$(echo "$times" | percentile 0.5)
    p99=$(echo "$times" | percentile 0.99)
    awk -v r="$delay" -v a="$p50" -v b="$p99" -v z="$base" 'BEGIN { printf "%43s ms  %6.2f ms  %6.2f ms\n", r, a - z, b - z }'
    kill -INT "$run"; wait "$run" || true
done
echo
echo "network.loss (server ingress, 2,000 pings)   requested  measured"
for percent in 10 30 50; do
    hold "network.loss: { netns: $server, percent: $percent, protocol: icmp, direction: ingress }" 30s
    line=$(ip netns exec "$client" ping -n -q -c 2000 -i 0.002 -W 1 10.232.0.1 | grep "packets transmitted")
    awk -v r="$percent" -v l="$line" 'BEGIN { split(l, f, " "); printf "%46s%%  %7.2f%%\n", r, 100 * (1 - f[4] / f[1]) }'
    kill -INT "$run"; wait "$run" || true
done
echo
echo "network.bandwidth (server veth egress)   requested   measured"
for mbit in 1 8 50; do
    hold "network.bandwidth: { netns: $server, interface: ebbb-s, rate: ${mbit}mbit }" 30s
    bytes=$((mbit * 1000000))   # 8 s worth: rate/8 bytes per second
    rate=$(ip netns exec "$client" curl -sf -o /dev/null -w '%{speed_download}' "http://10.232.0.1:8080/bytes?n=$bytes")
    awk -v r="$mbit" -v m="$rate" 'BEGIN { printf "%38s Mbit/s  %6.2f Mbit/s (%+.1f%%)\n", r, m * 8 / 1e6, (m * 8 / 1e6 / r - 1) * 100 }'
    kill -INT "$run"; wait "$run" || true
done
left=$(ip netns exec "$server" nft list ruleset; ip netns exec "$server" tc qdisc show dev ebbb-s | grep -v noqueue || true)
echo
echo "left in the server namespace after the runs: ${left:-nothing}"
