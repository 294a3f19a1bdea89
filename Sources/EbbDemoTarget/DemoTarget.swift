import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A tiny HTTP service for the demo suite and the tests to break: `/healthz` answers `ok`,
/// `/metrics` serves Prometheus text-format counters, `/bytes?n=N` sends N bytes (at most 256 MiB)
/// so that throughput can be measured. It listens on 127.0.0.1 unless told otherwise.
public enum DemoTarget {
    /// Serves on `port` until the process is told to stop; writes its pid to `pidfile` if given.
    public static func serve(host: String = "127.0.0.1", port: Int, pidfile: String?) async throws {
        let channel = try await bind(host: host, port: port, group: MultiThreadedEventLoopGroup(numberOfThreads: 1))
            .get()
        if let pidfile {
            try "\(getpid())\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        }
        FileHandle.standardOutput.write(
            Data("demo-target listening on http://\(host):\(channel.localAddress?.port ?? port)\n".utf8))
        try await channel.closeFuture.get()
    }

    /// Starts serving on `group` and returns the listening channel; for tests that keep the
    /// service in their own process.
    public static func bind(host: String = "127.0.0.1", port: Int, group: EventLoopGroup) -> EventLoopFuture<Channel> {
        let counters = Counters()
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(DemoHandler(counters: counters))
                }
            }
            .bind(host: host, port: port)
    }
}

/// Request counters, shared by every connection (all on the one event loop, but made safe anyway).
final class Counters: Sendable {
    private let requests = Mutex<[String: Int]>([:])

    func count(_ path: String) { requests.withLock { $0[path, default: 0] += 1 } }

    var exposition: String {
        let snapshot = requests.withLock { $0 }
        var lines = ["# HELP demo_requests_total Requests served, by path.", "# TYPE demo_requests_total counter"]
        for (path, count) in snapshot.sorted(by: { $0.key < $1.key }) {
            lines.append("demo_requests_total{path=\"\(path)\"} \(count)")
        }
        lines += [
            "# HELP demo_errors_total Requests answered with an error.", "# TYPE demo_errors_total counter",
            "demo_errors_total \(snapshot["other", default: 0])",
            "# HELP demo_up Whether the demo target is serving.", "# TYPE demo_up gauge", "demo_up 1",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

final class DemoHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let counters: Counters
    private var path = "/"
    private var query = ""

    init(counters: Counters) { self.counters = counters }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            path = String(parts.first ?? "/")
            query = parts.count > 1 ? String(parts[1]) : ""
        case .body:
            break
        case .end:
            if path == "/bytes" {
                sendBytes(context: context)
                return
            }
            let (status, body, type): (HTTPResponseStatus, String, String)
            switch path {
            case "/healthz":
                counters.count("/healthz")
                (status, body, type) = (.ok, "ok\n", "text/plain")
            case "/metrics":
                counters.count("/metrics")
                (status, body, type) = (.ok, counters.exposition, "text/plain; version=0.0.4")
            default:
                counters.count("other")
                (status, body, type) = (.notFound, "not found\n", "text/plain")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// `/bytes?n=N`: N bytes of `x`, written in 64 KiB chunks that each wait for the previous one,
    /// so a slow reader holds back the sender instead of growing its memory.
    private func sendBytes(context: ChannelHandlerContext) {
        counters.count("/bytes")
        let requested = query.split(separator: "&").first { $0.hasPrefix("n=") }.flatMap { Int($0.dropFirst(2)) } ?? 0
        let total = min(max(requested, 0), 256 << 20)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Content-Length", value: String(total))
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: 64 << 10)
        send(total, chunk: chunk, context: NIOLoopBound(context, eventLoop: context.eventLoop))
    }

    private func send(_ remaining: Int, chunk: ByteBuffer, context: NIOLoopBound<ChannelHandlerContext>) {
        guard remaining > 0 else {
            context.value.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let size = min(remaining, chunk.readableBytes)
        context.value.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: size)!))))
            .whenSuccess {
                self.send(remaining - size, chunk: chunk, context: context)
            }
    }
}
