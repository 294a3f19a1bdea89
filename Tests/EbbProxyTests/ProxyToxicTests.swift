import EbbCore
import EbbProxy
import EbbTestSupport
import Foundation
import Testing

/// Real TCP traffic through a running proxy to a real upstream; faults are loaded from YAML and
/// undone from their records, as a run does.
@Suite("Proxy toxics", .serialized, .ownThread)
struct ProxyToxicTests {
    @Test("latency adds the requested delay to HTTP round trips to the demo target, and the undo takes it away")
    func latency() throws {
        let harness = try ProxyHarness(upstreamPort: SharedDemoTarget.port)
        defer { harness.stop() }
        let client = try TestClient(port: harness.port)
        func roundTrips(_ count: Int) -> [Double] {
            (0..<count).map { _ in seconds { #expect(client.get("/healthz")?.status == 200) } }
        }
        let clean = median(roundTrips(20))
        let plan = try harness.inject("proxy.toxic: { proxy: api, toxic: latency, latency: 200ms }")
        let slowed = roundTrips(10)
        // Every round trip waits the whole delay, and only once. How closely the median matches
        // 200 ms is measured by ci/bench/proxy.sh, not asserted against a clock other tests load.
        #expect(slowed.allSatisfy { $0 >= 0.199 }, "round trips \(slowed)")
        #expect(median(slowed) - clean < 0.3, "added \(median(slowed) - clean)s, wanted 0.2s")
        #expect(try harness.undo(plan) == .undone)
        #expect(median(roundTrips(10)) < 0.1, "the delay is gone")
    }

    @Test("upstream latency delays the request, with jitter around the requested mean")
    func upstreamLatencyWithJitter() throws {
        let harness = try ProxyHarness(upstreamPort: SharedDemoTarget.port)
        defer { harness.stop() }
        let client = try TestClient(port: harness.port)
        let clean = median((0..<20).map { _ in seconds { _ = client.get("/healthz") } })
        _ = try harness.inject(
            "proxy.toxic: { proxy: api, toxic: latency, direction: upstream, latency: 150ms, jitter: 20ms }")
        let times = (0..<21).map { _ in seconds { #expect(client.get("/healthz")?.status == 200) } }
        let samples = times.map { $0 - clean }
        #expect(abs(median(samples) - 0.15) <= 0.03, "median added \(median(samples))s")
        // Never earlier than latency - jitter; later only by scheduling, which the median absorbs.
        #expect(times.allSatisfy { $0 >= 0.13 }, "round trips \(times)")
        let sorted = samples.sorted()
        #expect(sorted[sorted.count * 9 / 10] - sorted[sorted.count / 10] >= 0.01, "no jitter in \(sorted)")
    }

    @Test("bandwidth limits a download to the requested rate (within 10%)")
    func bandwidth() throws {
        let blob = (0..<(768 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: bandwidth, rate: 512K }")
        var received: (bytes: [UInt8], ending: TestClient.Ending?) = ([], nil)
        let elapsed = try seconds {
            received = try TestClient(port: harness.port).receive(timeout: .seconds(10))
        }
        #expect(received.ending == .closed)
        let same = received.bytes == blob
        #expect(same, "\(received.bytes.count) of \(blob.count) bytes")
        let rate = Double(blob.count) / elapsed
        #expect(abs(rate - 524_288) / 524_288 <= 0.1, "measured \(rate) bytes/s")
    }

    @Test("reset_peer resets new and existing connections; the client sees ECONNRESET")
    func resetPeer() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let existing = try TestClient(port: harness.port)
        existing.send("hello")
        #expect(existing.receive(upTo: 5).bytes == Array("hello".utf8))
        let plan = try harness.inject("proxy.toxic: { proxy: api, toxic: reset_peer, after: 50ms }")
        #expect(existing.receive(timeout: .seconds(5)).ending == .reset)
        let fresh = try TestClient(port: harness.port)
        fresh.send("x")
        let outcome = fresh.receive(timeout: .seconds(5))
        #expect(
            outcome.ending == .reset && outcome.bytes == Array("x".utf8)
                || outcome.ending == .reset && outcome.bytes.isEmpty)
        #expect(try harness.undo(plan) == .undone)
        let after = try TestClient(port: harness.port)
        after.send("clean")
        #expect(after.receive(upTo: 5).bytes == Array("clean".utf8))
    }

    @Test("timeout holds data (nothing lost) until removed; with close_after it closes the connection")
    func timeout() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let plan = try harness.inject("proxy.toxic: { proxy: api, toxic: timeout }")
        let client = try TestClient(port: harness.port)
        client.send("held")
        let silent = client.receive(upTo: 4, timeout: .milliseconds(300))
        #expect(silent.ending == .timedOut && silent.bytes.isEmpty)
        #expect(try harness.undo(plan) == .undone)
        #expect(client.receive(upTo: 4).bytes == Array("held".utf8))

        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: timeout, close_after: 200ms }", sequence: 2)
        let closing = try TestClient(port: harness.port)
        closing.send("lost")
        let ended = closing.receive(timeout: .seconds(5))
        #expect(ended.ending == .closed && ended.bytes.isEmpty)
    }

    @Test("limit_data closes the connection after exactly the given bytes")
    func limitData() throws {
        let blob = [UInt8](repeating: 7, count: 100_000)
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: limit_data, bytes: 1000 }")
        let received = try TestClient(port: harness.port).receive(timeout: .seconds(5))
        #expect(received.ending == .closed)
        #expect(received.bytes.count == 1000)
    }

    @Test("slicer delivers the data intact in slices spaced by the delay")
    func slicer() throws {
        let blob = (0..<10_000).map { UInt8(truncatingIfNeeded: $0) }
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        _ = try harness.inject(
            "proxy.toxic: { proxy: api, toxic: slicer, average_size: 1000, size_variation: 200, delay: 30ms }")
        let client = try TestClient(port: harness.port)
        var received: [UInt8] = []
        var arrivals = 0
        let elapsed = seconds {
            while true {
                let (bytes, ending) = client.receiveOnce()
                if !bytes.isEmpty { arrivals += 1 }
                received += bytes
                if ending != nil || received.count >= blob.count { break }
            }
        }
        let same = received == blob
        #expect(same, "\(received.count) of \(blob.count) bytes")
        #expect(arrivals >= 6, "\(arrivals) arrivals")
        #expect(elapsed >= 0.03 * 6)
    }

    @Test("slow_close passes the data at once and the close only after the delay")
    func slowClose() throws {
        let upstream = try TestUpstream(sending: Array("bye".utf8))
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: slow_close, delay: 400ms }")
        let client = try TestClient(port: harness.port)
        #expect(client.receive(upTo: 3).bytes == Array("bye".utf8))
        var ending: TestClient.Ending?
        let wait = seconds { ending = client.receive(timeout: .seconds(5)).ending }
        #expect(ending == .closed)
        #expect(wait >= 0.3, "closed after \(wait)s")
    }

    @Test("toxicity affects about that share of connections")
    func toxicity() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: reset_peer, toxicity: 0.5 }")
        var resets = 0
        let total = 200
        for _ in 0..<total {
            let client = try TestClient(port: harness.port)
            client.send("p")
            if client.receive(upTo: 1).ending == .reset { resets += 1 }
        }
        let share = Double(resets) / Double(total)
        #expect(abs(share - 0.5) <= 0.12, "\(resets) of \(total) connections reset")
    }

    @Test("after undo the proxy is byte-for-byte transparent, on connections old and new")
    func transparentAfterUndo() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let old = try TestClient(port: harness.port)
        let plans = [
            try harness.inject("proxy.toxic: { proxy: api, toxic: latency, latency: 20ms, jitter: 5ms }", sequence: 1),
            try harness.inject(
                "proxy.toxic: { proxy: api, toxic: slicer, average_size: 512, direction: upstream }", sequence: 2),
            try harness.inject("proxy.toxic: { proxy: api, toxic: bandwidth, rate: 10M }", sequence: 3),
        ]
        old.send("during")
        #expect(old.receive(upTo: 6).bytes == Array("during".utf8))
        for plan in plans.reversed() { #expect(try harness.undo(plan) == .undone) }
        #expect(harness.proxy.activeRules.isEmpty)
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<(2 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for client in [old, try TestClient(port: harness.port)] {
            let sender = Thread { client.send(payload) }
            sender.start()
            let echoed = client.receive(upTo: payload.count).bytes
            let same = echoed == payload
            #expect(same, "\(echoed.count) of \(payload.count) bytes came back")
        }
    }

    @Test("under a toxic, a slow reader stops the proxy reading: memory stays bounded while 32 MiB wait upstream")
    func backpressure() throws {
        let blob = [UInt8](repeating: 0xAB, count: 32 << 20)
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        // A toxic puts the connection on the NIO path, the one that holds bytes in Ebb's memory
        // (a clean connection's bytes stay in kernel pipes).
        _ = try harness.inject("proxy.toxic: { proxy: api, toxic: latency, latency: 1ms, direction: upstream }")
        let client = try TestClient(port: harness.port)
        #expect(eventually { harness.proxy.connectionCount == 1 })
        // Let the kernel buffers fill, then watch what the proxy holds while nobody reads.
        var samples: [Int] = []
        _ = eventually(timeout: .seconds(2)) {
            samples.append((try? harness.proxy.bufferedBytes()) ?? -1)
            return samples.count >= 50
        }
        #expect(samples.allSatisfy { $0 >= 0 && $0 < 4 << 20 }, "buffered \(samples.max() ?? 0) bytes")
        #expect(client.receive(upTo: blob.count, timeout: .seconds(20)).bytes.count == blob.count)
    }
}
