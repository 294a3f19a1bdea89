import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// One client connection and its connection to the upstream, glued by two ``ProxyFlow``s.
/// Confined to one event loop (both channels live on it), hence unchecked Sendable.
final class ProxyConnection: @unchecked Sendable {
    enum Side { case client, upstream }

    let client: Channel
    let upstream: Channel
    private weak var proxy: FaultProxy?
    private var upstreamFlow: ProxyFlow!
    private var downstreamFlow: ProxyFlow!
    /// Whether each toxic affects this connection, decided once by its `toxicity`.
    private var selected: [String: Bool] = [:]
    /// `timeout` closes and `reset_peer` resets waiting to happen, by rule id.
    private var timers: [String: Scheduled<Void>] = [:]
    private var finishedDirections = Set<ProxyDirection>()
    private var isClosed = false
    /// Bytes the zero-copy relay had read but not yet written when it handed this connection over.
    private var pending: (toUpstream: [UInt8], toClient: [UInt8])

    var eventLoop: EventLoop { client.eventLoop }

    /// `pending` and `finished` come from the zero-copy relay when it hands a connection over:
    /// bytes it had read but not written, and directions whose end it already passed on.
    init(
        client: Channel, upstream: Channel, proxy: FaultProxy,
        pending: (toUpstream: [UInt8], toClient: [UInt8]) = ([], []), finished: Set<ProxyDirection> = []
    ) {
        self.client = client
        self.upstream = upstream
        self.proxy = proxy
        self.pending = pending
        upstreamFlow = ProxyFlow(direction: .upstream, connection: self, source: client, sink: upstream)
        downstreamFlow = ProxyFlow(direction: .downstream, connection: self, source: upstream, sink: client)
        finishedDirections = finished
        for direction in finished { (direction == .upstream ? upstreamFlow : downstreamFlow).markFinished() }
    }

    /// Adds the handlers that feed the flows; runs on the event loop before the client is active.
    func install() throws {
        try client.pipeline.syncOperations.addHandler(ProxySideHandler(connection: self, side: .client))
        try upstream.pipeline.syncOperations.addHandler(ProxySideHandler(connection: self, side: .upstream))
    }

    /// Starts forwarding once the client is active: takes the proxy's rules and reads both sides.
    func begin() {
        guard let proxy, let (rules, generation) = proxy.register(self) else { return close() }
        apply(rules, generation: generation)
        // What the relay held goes first, through the rules, as if just read.
        for (flow, bytes) in [(upstreamFlow!, pending.toUpstream), (downstreamFlow!, pending.toClient)]
        where !bytes.isEmpty {
            flow.received(client.allocator.buffer(bytes: bytes))
            flow.readComplete()
        }
        pending = ([], [])
        upstreamFlow.readIfRoom()
        downstreamFlow.readIfRoom()
    }

    func flow(readingFrom side: Side) -> ProxyFlow { side == .client ? upstreamFlow : downstreamFlow }
    func flow(writingTo side: Side) -> ProxyFlow { side == .client ? downstreamFlow : upstreamFlow }

    /// Applies the proxy's current rules; reports the generation back so undo can verify that
    /// every connection has let go of a removed rule.
    func apply(_ rules: [ProxyRule], generation: Int) {
        guard !isClosed else { return }
        var toxics: [ProxyDirection: [(id: String, toxic: any Toxic)]] = [:]
        var http: [ProxyRule] = []
        for rule in rules {
            switch rule.effect {
            case .http:
                http.append(rule)
            case .toxic(let toxic, let direction):
                let isSelected = selected[rule.id] ?? (Double.random(in: 0..<1) < rule.share)
                selected[rule.id] = isSelected
                guard isSelected else { continue }
                toxics[direction, default: []].append((rule.id, toxic))
                startTimer(rule.id, toxic, direction)
            }
        }
        let ids = Set(rules.map(\.id))
        for (id, timer) in timers where !ids.contains(id) {
            timer.cancel()
            timers[id] = nil
        }
        selected = selected.filter { ids.contains($0.key) }
        upstreamFlow.apply(toxics: toxics[.upstream] ?? [], http: http)
        downstreamFlow.apply(toxics: toxics[.downstream] ?? [], http: [])
        proxy?.noteApplied(self, generation: generation)
    }

    private func startTimer(_ id: String, _ toxic: any Toxic, _ direction: ProxyDirection) {
        guard timers[id] == nil, let (after, end) = toxic.connectionEnd else { return }
        timers[id] = eventLoop.scheduleTask(in: TimeAmount(after)) { [weak self] in
            switch end {
            case .close: self?.close()
            case .resetPeer: self?.reset(direction)
            }
        }
    }

    /// Sends the proxy's own HTTP answer to the client, in order with what flows downstream.
    func answer(status: Int, body: String) {
        let text =
            "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
            + "X-Ebb-Fault: proxy.http\r\n\r\n" + body
        downstreamFlow.insert(client.allocator.buffer(string: text))
    }

    /// Resets the receiving peer of `direction` (RST through SO_LINGER 0) and closes the other side.
    func reset(_ direction: ProxyDirection) {
        guard !isClosed else { return }
        let victim = direction == .downstream ? client : upstream
        guard let options = victim as? SocketOptionProvider else { return close() }
        options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { [self] _ in close() }
    }

    /// A flow has written everything its source sent: pass the end on to its sink once those
    /// writes are out, then close the whole connection when a `limit_data` toxic ended it or
    /// both directions are done.
    ///
    /// NIO turns an output close on a channel whose input already ended into a full close that
    /// drops unsent writes and ends the other direction too. So the flow first waits for its
    /// writes to reach the socket, and a sink that already ended its own sending gets no
    /// separate half-close: the end reaches it with the full close once the other direction,
    /// which reads from it, has delivered everything as well.
    func flowFinished(_ direction: ProxyDirection, closeBoth: Bool) {
        guard !isClosed else { return }
        let sink = direction == .upstream ? upstream : client
        let sinkAlsoEnded = flow(readingFrom: direction == .upstream ? .upstream : .client).sourceEnded
        sink.writeAndFlush(sink.allocator.buffer(capacity: 0)).flatMap { () -> EventLoopFuture<Void> in
            closeBoth || sinkAlsoEnded ? sink.eventLoop.makeSucceededVoidFuture() : sink.close(mode: .output)
        }.whenComplete { [self] result in
            if case .failure(let error) = result, !Self.isAlreadyShut(error) { return close() }
            finishedDirections.insert(direction)
            if closeBoth || finishedDirections.count == 2 { close() }
        }
    }

    /// One channel closed. After the proxy had ended its output, that is the peer's end arriving
    /// (NIO closes a channel whose both halves are shut without an input-closed event): the
    /// other direction still delivers what it holds. Otherwise the peer went away and the
    /// connection closes.
    func sideClosed(_ side: Side) {
        guard !isClosed else { return }
        guard finishedDirections.contains(side == .client ? .downstream : .upstream) else { return close() }
        flow(readingFrom: side).sourceClosed()
        if finishedDirections.count == 2 { close() }
    }

    /// The output was shut before: the zero-copy relay passed this direction's end on before
    /// it handed the connection over (ENOTCONN once both ends are closed).
    private static func isAlreadyShut(_ error: Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ENOTCONN }
        if let error = error as? ChannelError { return error == .outputClosed }
        return false
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        for timer in timers.values { timer.cancel() }
        timers = [:]
        upstreamFlow.cancelTimers()
        downstreamFlow.cancelTimers()
        client.close(promise: nil)
        upstream.close(promise: nil)
        proxy?.unregister(self)
    }

    /// Bytes this connection holds: its flows' queues and what waits in both channels' buffers.
    var bufferedBytes: Int {
        let unsent = [client, upstream].map { channel in
            (try? channel.syncOptions?.getOption(.bufferedWritableBytes)).flatMap { $0 } ?? 0
        }
        return upstreamFlow.queuedBytes + downstreamFlow.queuedBytes + unsent.reduce(0, +)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Injected"
        }
    }
}

/// Feeds one channel's events to its connection's flows.
final class ProxySideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: ProxyConnection
    private let side: ProxyConnection.Side

    init(connection: ProxyConnection, side: ProxyConnection.Side) {
        self.connection = connection
        self.side = side
    }

    func channelActive(context: ChannelHandlerContext) {
        if side == .client { connection.begin() }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.flow(readingFrom: side).received(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.flow(readingFrom: side).readComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.flow(writingTo: side).releaseDue()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            connection.flow(readingFrom: side).sourceClosed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.sideClosed(side)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        connection.close()
    }
}
