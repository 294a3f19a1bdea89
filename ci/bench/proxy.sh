#!/usr/bin/env bash
# Benchmark: the fault proxy, clean (no toxic), with a release build, on loopback.
#  1. Throughput: one connection reading 1 GiB from a bulk sender (kernel sendfile), directly
#     and through the proxy; MB/s and the ratio (acceptance: the proxy keeps >= 80%).
#  2. Latency: keep-alive GET /healthz against the demo target, directly and through the
#     proxy; p50/p99 per request and what the proxy adds.
#  3. Memory: the runner's resident set (the proxy lives in it) before and with 1,000
#     concurrent client connections open through the proxy, each having had one exchange.
# The proxy is started the way users get it: 'ebb run' of a suite with 'proxies:', holding a
# no-op fault while the measurements run. Measures, asserts nothing.
# Usage: ci/bench/proxy.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
ulimit -n "$(ulimit -Hn)"   # 1,000 spliced connections take 6,000 descriptors in the runner (it raises its own limit too)
swift build -c release --static-swift-stdlib --product ebb -q
ebb="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
work=$(mktemp -d)
# Runs copy their records to a host registry: keep them out of the machine's own.
export EBB_REGISTRY_DIR="${EBB_REGISTRY_DIR:-$work/registry}"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
demo=$(port); bulk=$(port); bulk_proxy=$(port); http_proxy=$(port)

# The bulk sender: every connection gets an endless stream from a 64 MiB file via sendfile.
head -c 64M /dev/zero > "$work/blob"
python3 - "$bulk" "$work/blob" > "$work/bulk.log" 2>&1 <<'PY' &
import os, socket, sys, threading
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=64)
def serve(connection):
    with connection, open(sys.argv[2], "rb") as blob:
        size = os.fstat(blob.fileno()).st_size
        try:
            while True:
                offset = 0
                while offset < size:
                    offset += os.sendfile(connection.fileno(), blob.fileno(), offset, size - offset)
        except OSError:
            pass
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
PY
pids+=($!)

cat > "$work/suite.yaml" <<YAML
suite: proxy-bench
setup:
  - name: demo
    command: [ebb, demo-target, --port, "$demo"]
    ready: { http: "http://127.0.0.1:$demo/healthz", timeout: 20s }
proxies:
  - { name: bulk, listen: "127.0.0.1:$bulk_proxy", upstream: "127.0.0.1:$bulk" }
  - { name: http, listen: "127.0.0.1:$http_proxy", upstream: "127.0.0.1:$demo" }
scenarios:
  - name: hold
    duration: 10m
    faults:
      - command: { inject: [true], rollback: [true] }
YAML
"$ebb" run "$work/suite.yaml" --state-dir "$work/state" --report-dir "$work/reports" --quiet --no-guardian >/dev/null 2>&1 &
runner=$!
pids+=($runner)

python3 - "$runner" "$repeats" "$demo" "$bulk" "$bulk_proxy" "$http_proxy" <<'PY'
import os, socket, statistics, sys, time
runner, repeats, demo, bulk, bulk_proxy, http_proxy = (int(a) for a in sys.argv[1:])

def connect(port, deadline=60):
    end = time.monotonic() + deadline
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > end: raise
            time.sleep(0.05)

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])

def wait_for_demo_through_proxy():
    # The runner is ready once its HTTP proxy answers (proxies start before the fixtures,
    # so the answer also means the demo target is up).
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            s = connect(http_proxy, 5)
            if exchange(s): s.close(); return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the proxy never answered")

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
def exchange(s):
    s.sendall(REQUEST)
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk: return False
        data += chunk
    return True

wait_for_demo_through_proxy()

def throughput(port, total=1 << 30):
    s = connect(port)
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    received = 0
    start = time.monotonic()
    while received < total:
        n = s.recv_into(view)
        if n == 0: raise SystemExit("stream ended early")
        received += n
    elapsed = time.monotonic() - start
    s.close()
    return received / elapsed / 1e6

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

# Direct and proxied runs alternate, so a drift in the machine's speed (loopback throughput on
# a shared VM moves by a third between runs) weighs on both sides alike.
direct, proxied, cpu = [], [], 0.0
for _ in range(repeats):
    direct.append(throughput(bulk))
    cpu_before = cpu_seconds(runner)
    proxied.append(throughput(bulk_proxy))
    cpu += cpu_seconds(runner) - cpu_before
cpu_per_gib = cpu / repeats
d, p = statistics.median(direct), statistics.median(proxied)
pairs = statistics.median(b / a for a, b in zip(direct, proxied))
print(f"throughput: direct {d:.0f} MB/s, through the proxy {p:.0f} MB/s, ratio {p / d * 100:.0f}% "
      f"(median of {repeats} x 1 GiB each, alternating; median ratio of neighbouring runs {pairs * 100:.0f}%; "
      f"direct runs {', '.join(f'{x:.0f}' for x in direct)}; proxy runs {', '.join(f'{x:.0f}' for x in proxied)}); "
      f"the runner spent {cpu_per_gib:.2f} CPU-seconds per GiB proxied; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

def latencies(port, count=2000):
    s = connect(port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(100): exchange(s)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        exchange(s)
        samples.append((time.perf_counter() - start) * 1e6)
    s.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]

dp50, dp99 = latencies(demo)
pp50, pp99 = latencies(http_proxy)
print(f"latency: direct p50 {dp50:.0f} us p99 {dp99:.0f} us; through the proxy p50 {pp50:.0f} us p99 {pp99:.0f} us; "
      f"added p50 {pp50 - dp50:+.0f} us, p99 {pp99 - dp99:+.0f} us (2,000 keep-alive requests each)")

before = rss_kib(runner)
clients = []
for _ in range(1000):
    s = connect(http_proxy)
    exchange(s)
    clients.append(s)
during = rss_kib(runner)
print(f"memory: runner RSS {before / 1024:.1f} MiB idle, {during / 1024:.1f} MiB with 1,000 open proxied connections "
      f"(+{(during - before) / 1000:.1f} KiB per connection, both of its sockets included)")
for s in clients: s.close()
PY
kill -TERM "$runner" 2>/dev/null || true
wait "$runner" 2>/dev/null || true
echo "($(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ))"
