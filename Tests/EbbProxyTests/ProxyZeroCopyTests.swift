import EbbCore
import EbbProxy
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The clean proxy's zero-copy relay (splice(2)) and its hand-off to the NIO path when a rule
/// arrives, with real TCP traffic.
@Suite("Proxy zero-copy relay", .serialized, .ownThread)
struct ProxyZeroCopyTests {
    @Test(
        "a clean connection is relayed in the kernel: 8 MiB echoed intact, nothing held in Ebb's memory, a half-close passes"
    )
    func cleanConnectionIsSpliced() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let client = try TestClient(port: harness.port)
        let payload = randomBytes(8 << 20)
        let sender = Thread { client.send(payload) }
        sender.start()
        let echoed = client.receive(upTo: payload.count, timeout: .seconds(10)).bytes
        // Compared outside #expect: a failed expectation on 8 MiB arrays would be diffed for minutes.
        let intact = echoed == payload
        #expect(intact, "\(echoed.count) of \(payload.count) bytes came back")
        #expect(harness.proxy.zeroCopyConnectionCount == 1)
        #expect(try harness.proxy.bufferedBytes() == 0)
        // The echo upstream closes its side once it reads our end; that end travels through the relay.
        client.finishSending()
        let ending = client.receive(timeout: .seconds(5))
        #expect(ending.ending == .closed && ending.bytes.isEmpty)
        #expect(eventually { harness.proxy.connectionCount == 0 })
    }

    @Test(
        "a toxic takes an open spliced connection to the NIO path with the bytes in its pipes: none lost or reordered; after undo new connections are spliced again"
    )
    func handOffKeepsEveryByte() throws {
        let blob = randomBytes(16 << 20)
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let client = try TestClient(port: harness.port)
        // Read a little, then nothing: the relay's pipe and the socket buffers fill up.
        var received = client.receive(upTo: 1 << 20).bytes
        #expect(harness.proxy.zeroCopyConnectionCount == 1)
        let plan = try harness.inject("proxy.toxic: { proxy: api, toxic: latency, latency: 1ms }")
        #expect(
            harness.proxy.zeroCopyConnectionCount == 0 && harness.proxy.connectionCount == 1,
            "the open connection moved to the NIO path before the toxic counts as applied")
        received += client.receive(upTo: blob.count - received.count, timeout: .seconds(10)).bytes
        #expect(received.count == blob.count)
        let intact = received == blob
        #expect(intact, "the stream through the hand-off differs from what the upstream sent")
        #expect(try harness.undo(plan) == .undone)
        let fresh = try TestClient(port: harness.port)
        let freshIntact = fresh.receive(upTo: blob.count, timeout: .seconds(10)).bytes == blob
        #expect(freshIntact)
        #expect(harness.proxy.zeroCopyConnectionCount >= 1, "a connection opened after the undo is spliced")
    }

    /// When the toxic arrives: while the download runs (the connection is handed over from the
    /// relay), or before the client connects (NIO from the start).
    enum ToxicArrival: String, CaseIterable { case midDownload, beforeConnecting }

    @Test(
        "a client that half-closed gets every byte of a download and then the end, with a toxic arriving",
        arguments: ToxicArrival.allCases)
    func halfClosedDownload(_ arrival: ToxicArrival) throws {
        let blob = randomBytes(8 << 20)
        let upstream = try TestUpstream(sending: blob)
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        defer { harness.stop() }
        let toxic = "proxy.toxic: { proxy: api, toxic: latency, latency: 1ms }"
        if arrival == .beforeConnecting { _ = try harness.inject(toxic) }
        let client = try TestClient(port: harness.port)
        client.finishSending()
        var received = client.receive(upTo: 1 << 20).bytes
        if arrival == .midDownload { _ = try harness.inject(toxic) }
        #expect(harness.proxy.zeroCopyConnectionCount == 0)
        let rest = client.receive(upTo: blob.count - received.count, timeout: .seconds(10))
        received += rest.bytes
        let intact = received == blob
        #expect(intact, "\(received.count) of \(blob.count) bytes arrived, then \(String(describing: rest.ending))")
        #expect(client.receive(timeout: .seconds(5)).ending == .closed)
    }

    @Test("a connection the upstream refuses is closed at once, with one warning that says why for a burst of them")
    func refusedUpstreamClosesTheClient() throws {
        let log = CapturedLog()
        let upstreamPort = try freePort()
        let harness = try ProxyHarness(upstreamPort: upstreamPort, logger: log.logger)
        defer { harness.stop() }
        for _ in 0..<3 {
            let result = try TestClient(port: harness.port).receive(timeout: .seconds(5))
            #expect(result.ending == .closed || result.ending == .reset, "ended \(String(describing: result.ending))")
        }
        #expect(eventually { harness.proxy.connectionCount == 0 })
        let warnings = log.messages(at: .warning)
        #expect(warnings.count == 1, "\(warnings)")
        #expect(
            warnings.first?.contains("upstream 127.0.0.1:\(upstreamPort) unreachable (Connection refused)") == true,
            "\(warnings)")
    }

    @Test("an upstream named localhost is reached on whichever of its addresses listens")
    func upstreamByName() throws {
        let upstream = try TestUpstream()  // 127.0.0.1 only; localhost may resolve to ::1 first
        defer { upstream.stop() }
        let proxy = FaultProxy(
            name: "named", listen: ProxyAddress(host: "127.0.0.1", port: 0),
            upstream: ProxyAddress(host: "localhost", port: upstream.port))
        try proxy.start()
        defer { proxy.stop() }
        let client = try TestClient(port: proxy.port)
        client.send("hello")
        #expect(client.receive(upTo: 5).bytes == Array("hello".utf8))
    }

    @Test("stopping the proxy closes its spliced connections and its listener")
    func stopClosesSplicedConnections() throws {
        let upstream = try TestUpstream()
        defer { upstream.stop() }
        let harness = try ProxyHarness(upstreamPort: upstream.port)
        let client = try TestClient(port: harness.port)
        client.send("x")
        #expect(client.receive(upTo: 1).bytes == [UInt8(ascii: "x")])
        let port = harness.port
        harness.stop()
        #expect(client.receive(timeout: .seconds(5)).ending == .closed)
        #expect(throws: Missing.self) { try TestClient(port: port) }
    }

    @Test("a stopped proxy refuses to start, frees its port, and rule changes on it return at once")
    func stoppedProxy() throws {
        let port = try freePort()
        let address = ProxyAddress(host: "127.0.0.1", port: port)
        let proxy = FaultProxy(
            name: "late", listen: address, upstream: ProxyAddress(host: "127.0.0.1", port: try freePort()))
        proxy.stop()
        #expect(throws: (any Error).self) { try proxy.start() }
        proxy.remove("nothing")  // before: waited forever on the stopped event loop
        #expect(throws: Missing.self) { try TestClient(port: port) }
        let other = FaultProxy(name: "other", listen: address, upstream: proxy.upstream)
        try other.start()
        other.stop()
    }

    private func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
