import EbbCore
import EbbDemoTarget
import EbbProxy
import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Missing() }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw Missing() }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Ebb's demo target (HTTP on SwiftNIO), served in this test process on 127.0.0.1 for all proxy
/// tests, on an event loop of its own (the tests block their threads while they wait).
enum SharedDemoTarget {
    static let port = fresh()

    /// Another demo target, for a test that reads its request counters.
    static func fresh() -> Int {
        let channel = try! DemoTarget.bind(port: 0, group: group).wait()
        return channel.localAddress!.port!
    }

    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
}

/// A raw TCP upstream for the tests: echoes what it reads, or sends `blob` to each new
/// connection and then closes (its write side).
final class TestUpstream: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel: Channel
    var port: Int { channel.localAddress!.port! }

    init(sending blob: [UInt8]? = nil) throws {
        channel = try ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(blob: blob))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    final class UpstreamHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let blob: [UInt8]?
        init(blob: [UInt8]?) { self.blob = blob }

        func channelActive(context: ChannelHandlerContext) {
            guard let blob else { return }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: blob))).whenComplete { _ in
                channel.close(mode: .output, promise: nil)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard blob == nil else { return }
            context.writeAndFlush(data, promise: nil)
        }

        /// An echo ends its side once it has echoed everything (a sender's output closes after its blob).
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case ChannelEvent.inputClosed = event, blob == nil else { return }
            // With the input ended, NIO's output close is a full close that drops unsent writes.
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                channel.close(mode: .output, promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}

/// A blocking client socket: the "real client" of the proxy tests.
final class TestClient: @unchecked Sendable {
    enum Ending: Equatable { case closed, reset, timedOut }
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw Missing()
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Half-closes: the peer reads the end of the stream, and this side can still receive.
    func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads whatever arrives until `count` bytes, the end of the stream, or `timeout` of silence.
    func receive(upTo count: Int = .max, timeout: Duration = .seconds(5)) -> (bytes: [UInt8], ending: Ending?) {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while result.count < count {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Int32(timeout.seconds * 1000)) > 0 else { return (result, .timedOut) }
            let wanted = min(buffer.count, count - result.count)
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, wanted, 0) }
            if received == 0 { return (result, .closed) }
            if received < 0 { return (result, errno == ECONNRESET ? .reset : .closed) }
            result += buffer[..<received]
        }
        return (result, nil)
    }

    /// What one read returns: bytes as they arrived, or how the stream ended.
    func receiveOnce(timeout: Duration = .seconds(5)) -> (bytes: [UInt8], ending: Ending?) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(timeout.seconds * 1000)) > 0 else { return ([], .timedOut) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if received == 0 { return ([], .closed) }
        if received < 0 { return ([], errno == ECONNRESET ? .reset : .closed) }
        return (Array(buffer[..<received]), nil)
    }

    /// One HTTP/1.1 request on this (kept-alive) connection; returns the status and body.
    func get(_ path: String) -> (status: Int, body: String)? {
        send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
        var response: [UInt8] = []
        while true {
            let (bytes, ending) = receive(upTo: 1, timeout: .seconds(5))
            guard ending == nil else { return nil }
            response += bytes
            let text = String(decoding: response, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<headEnd.lowerBound]
            let length =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let bodyStart = text.utf8.distance(from: text.startIndex, to: headEnd.upperBound)
            if response.count - bodyStart < length {
                let (rest, _) = receive(upTo: length - (response.count - bodyStart))
                response += rest
            }
            let status = Int(head.split(separator: " ")[1]) ?? 0
            return (status, String(decoding: response[bodyStart...], as: UTF8.self))
        }
    }
}

/// A proxy started the way the runner does, under a run id and a directory of live services of
/// its own (tests run in parallel in one process), with faults loaded through the real suite
/// loader and undone from their records alone, the services reaching both through their contexts.
struct ProxyHarness {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ebb-proxy-\(UUID().uuidString.prefix(8))")
    let runID = "proxytest-\(UUID().uuidString.prefix(8))"
    let services = LiveServices()
    let catalog = PluginCatalog.proxies
    let logger: Logger
    let proxy: FaultProxy

    init(upstreamPort: Int, logger: Logger = Logger(label: "ebb.proxy-test")) throws {
        self.logger = logger
        proxy = FaultProxy(
            name: "api", listen: ProxyAddress(host: "127.0.0.1", port: 0),
            upstream: ProxyAddress(host: "127.0.0.1", port: upstreamPort), logger: logger)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try proxy.start()
        services.add(proxy, runID: runID, name: "api")
    }

    var port: Int { proxy.port }
    var runDirectory: URL { directory.appendingPathComponent("state/rollback/1-\(runID)") }
    /// Loads suites whose proxies start into this harness's services.
    var loader: SuiteLoader { SuiteLoader(catalog: catalog, proxyReader: ProxiesReader(services: services)) }

    func fault(_ yaml: String) throws -> any Fault {
        let text = """
            proxies:
              - { name: api, listen: "127.0.0.1:\(port)", upstream: "\(proxy.upstream)" }
            scenarios:
              - name: s
                duration: 1s
                faults:
                  - \(yaml)

            """
        return try loader.load(text: text, path: directory.appendingPathComponent("suite.yaml").path).scenarios[0]
            .faults[0].fault
    }

    func inject(_ yaml: String, sequence: Int = 1) throws -> FaultPlan {
        let fault = try fault(yaml)
        let suite = SuiteContext(directory: directory, allowedRoots: [], fixtureNames: [], proxyNames: ["api"])
        let context = FaultContext(
            runID: runID, runDirectory: runDirectory, sequence: sequence, scenario: "s",
            suite: suite, fixturePIDs: [:], logger: logger, services: services)
        let plan = try fault.plan(context)
        try fault.inject(plan, context)
        return plan
    }

    /// Runs the record's undo and verification as `ebb rollback execute` would.
    func undo(_ plan: FaultPlan) throws -> UndoOutcome {
        let handler = try require(catalog.undoHandlers[plan.undoKind])
        let context = UndoContext(runID: runID, runDirectory: runDirectory, logger: logger, services: services)
        return try handler.undoThenVerify(plan.undoData, context)
    }

    func stop() {
        _ = services.remove(FaultProxy.self, runID: runID, name: "api")
        proxy.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension PluginCatalog {
    /// The proxy faults alone, as `registerProxies()` adds them to the CLI's catalog.
    static var proxies: PluginCatalog {
        var catalog = PluginCatalog()
        catalog.registerProxies()
        return catalog
    }
}

struct Missing: Error {}

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}

/// A `sleep` child, ended by pid when the test is done.
struct Sleeper {
    let pid: Int32
    init() throws {
        pid = try ChildProcess.spawn(["sleep", "120"])
    }
    func end() {
        kill(pid, SIGKILL)
        _ = ChildProcess.wait(pid, timeout: .seconds(5))
    }
}

/// Waits until `condition` holds, re-checking every 10 ms, for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

/// Median of `values`.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// Seconds `body` takes.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    return (clock.now - start).seconds
}

/// A log that keeps what is logged to it, for tests that check what a user would read.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(level: Logger.Level, message: String)] = []

    var logger: Logger { Logger(label: "captured") { _ in Handler(log: self) } }

    func messages(at level: Logger.Level) -> [String] {
        lock.withLock { entries.filter { $0.level == level }.map(\.message) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lock.withLock { log.entries.append((event.level, "\(event.message)")) }
        }
    }
}
