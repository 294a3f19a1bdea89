import NIOCore

/// One direction of a proxied connection: reads from `source`, applies the direction's toxics
/// and writes to `sink`. Confined to the connection's event loop, hence unchecked Sendable.
///
/// Backpressure: both channels read only on request (`autoRead` off). The flow asks `source` for
/// more only while `sink` is writable and fewer than ``highWater`` bytes wait in its own queue,
/// so a slow reader on one side stops the proxy reading from the other instead of growing memory.
final class ProxyFlow: @unchecked Sendable {
    /// Bytes a flow holds (delayed by a toxic) before it stops reading.
    static let highWater = 256 * 1024

    let direction: ProxyDirection
    unowned let connection: ProxyConnection
    let source: Channel
    let sink: Channel
    private var queue = CircularBuffer<(bytes: ByteBuffer, release: NIODeadline)>()
    private(set) var queuedBytes = 0
    private var releaseTask: Scheduled<Void>?
    private var lastRelease = NIODeadline.uptimeNanoseconds(0)
    private var bandwidthCursor = NIODeadline.uptimeNanoseconds(0)
    private var needsFlush = false
    /// Bytes accepted from `source`; `limit_data` counts from its value when the toxic arrived.
    private var accepted: UInt64 = 0
    private(set) var sourceEnded = false
    /// A `limit_data` toxic let its last byte through: the whole connection closes once it is written.
    private var limitReached = false
    private var finished = false
    /// The toxics that affect this flow, with where `limit_data` started counting.
    private var toxics: [(id: String, toxic: any Toxic, baseline: UInt64)] = []
    /// Only the upstream flow frames HTTP requests.
    private var framer: HTTPRequestFramer?
    private var httpRules: [ProxyRule] = []
    private var currentAction: HTTPRule.Action?

    init(direction: ProxyDirection, connection: ProxyConnection, source: Channel, sink: Channel) {
        self.direction = direction
        self.connection = connection
        self.source = source
        self.sink = sink
        framer = direction == .upstream ? HTTPRequestFramer() : nil
    }

    private var isPaused: Bool {
        toxics.contains { $0.toxic.holdsData }
    }

    /// Takes the toxics and HTTP rules now affecting this flow; data already queued keeps its
    /// release time, so order is kept and a removed toxic drains within its own delay.
    func apply(toxics newToxics: [(id: String, toxic: any Toxic)], http: [ProxyRule]) {
        let old = Dictionary(uniqueKeysWithValues: toxics.map { ($0.id, $0.baseline) })
        toxics = newToxics.map { ($0.id, $0.toxic, old[$0.id] ?? accepted) }
        httpRules = http
        releaseDue()
    }

    // MARK: reading

    /// Asks the source for more data if the sink and the queue have room.
    func readIfRoom() {
        guard !sourceEnded, !finished, !isPaused, queuedBytes < Self.highWater, sink.isWritable, source.isActive else {
            return
        }
        source.read()
    }

    func received(_ buffer: ByteBuffer) {
        guard !finished else { return }
        guard var framer else { return forward(buffer, extraDelay: nil) }
        let segments = framer.split(buffer, holding: !httpRules.isEmpty)
        self.framer = framer
        for segment in segments { forward(segment) }
    }

    func readComplete() {
        flushIfNeeded()
        readIfRoom()
    }

    /// Its end was passed on before this flow existed (by the zero-copy relay): nothing to do.
    func markFinished() {
        sourceEnded = true
        finished = true
    }

    func sourceClosed() {
        sourceEnded = true
        finishIfDrained()
    }

    // MARK: HTTP

    private func forward(_ segment: HTTPRequestFramer.Segment) {
        if let request = segment.request {
            currentAction = httpRules.first { rule in
                guard case .http(let http) = rule.effect, http.matches(method: request.method, path: request.path)
                else { return false }
                return Double.random(in: 0..<1) < rule.share
            }.flatMap { rule -> HTTPRule.Action? in
                if case .http(let http) = rule.effect { return http.action } else { return nil }
            }
        }
        if segment.isOpaque { currentAction = nil }
        switch currentAction {
        case nil:
            forward(segment.bytes, extraDelay: nil)
        case .latency(let delay):
            forward(segment.bytes, extraDelay: delay)
        case .abort:
            connection.reset(.downstream)
        case .status(let code, let body):
            // The dependency never sees the request; the answer goes back once it is whole.
            if segment.endsRequest { connection.answer(status: code, body: body) }
        }
        if segment.endsRequest { currentAction = nil }
    }

    /// Data the proxy makes up itself (an HTTP answer), sent in order with the rest.
    func insert(_ buffer: ByteBuffer) {
        forward(buffer, extraDelay: nil)
        flushIfNeeded()
    }

    // MARK: toxics

    private func forward(_ buffer: ByteBuffer, extraDelay: Duration?) {
        var buffer = buffer
        if let allowance = limitAllowance(), buffer.readableBytes >= allowance {
            buffer = buffer.getSlice(at: buffer.readerIndex, length: Int(allowance))!
            limitReached = true
            sourceEnded = true
        }
        accepted += UInt64(buffer.readableBytes)
        let now = NIODeadline.now()
        if toxics.isEmpty, extraDelay == nil, queue.isEmpty {
            if buffer.readableBytes > 0 { write(buffer) }
            if sourceEnded { finishIfDrained() }
            return
        }
        var release = max(now, lastRelease)
        for (index, piece) in pieces(of: buffer).enumerated() {
            for entry in toxics {
                if index > 0 { release = release + TimeAmount(entry.toxic.gapBetweenPieces) }
                if let rate = entry.toxic.bytesPerSecond {
                    release = max(release, bandwidthCursor)
                    bandwidthCursor = release + .nanoseconds(Int64(Double(piece.readableBytes) / Double(rate) * 1e9))
                }
            }
            var due = release + TimeAmount(extraDelay ?? .zero)
            for entry in toxics { due = due + TimeAmount(entry.toxic.delay()) }
            // TCP keeps order: a chunk never overtakes the one before it.
            due = max(due, lastRelease)
            lastRelease = due
            queue.append((piece, due))
            queuedBytes += piece.readableBytes
        }
        releaseDue()
    }

    /// Bytes still allowed by the strictest `limit_data`, if one applies.
    private func limitAllowance() -> UInt64? {
        toxics.compactMap { entry -> UInt64? in
            guard let bytes = entry.toxic.byteLimit else { return nil }
            let used = accepted - entry.baseline
            return bytes > used ? bytes - used : 0
        }.min()
    }

    /// `buffer` cut for the slicer, or into pieces a bandwidth limit can pace smoothly
    /// (about 20 per second), else whole.
    private func pieces(of buffer: ByteBuffer) -> [ByteBuffer] {
        var size = Int.max
        var variation = 0
        for pieces in toxics.compactMap(\.toxic.pieces) where pieces.size < size {
            size = pieces.size
            variation = pieces.variation
        }
        guard size < buffer.readableBytes else { return [buffer] }
        var rest = buffer
        var result: [ByteBuffer] = []
        while rest.readableBytes > 0 {
            let length = max(1, size + (variation > 0 ? Int.random(in: -variation...variation) : 0))
            result.append(rest.readSlice(length: min(length, rest.readableBytes))!)
        }
        return result
    }

    // MARK: writing

    /// Writes every queued chunk that is due while the sink takes more, then waits for the next.
    func releaseDue() {
        releaseTask?.cancel()
        releaseTask = nil
        guard !isPaused else { return }
        let now = NIODeadline.now()
        while let head = queue.first, head.release <= now, sink.isWritable {
            queue.removeFirst()
            queuedBytes -= head.bytes.readableBytes
            write(head.bytes)
        }
        flushIfNeeded()
        if let head = queue.first, sink.isWritable {
            releaseTask = sink.eventLoop.scheduleTask(deadline: head.release) { [weak self] in self?.releaseDue() }
        }
        finishIfDrained()
        readIfRoom()
    }

    private func write(_ buffer: ByteBuffer) {
        sink.write(buffer, promise: nil)
        needsFlush = true
    }

    private func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        sink.flush()
    }

    /// The source has ended and everything has been written: pass the close on, later if a
    /// `slow_close` toxic says so.
    private func finishIfDrained() {
        guard sourceEnded, !finished, queue.isEmpty, !isPaused else { return }
        finished = true
        flushIfNeeded()
        let delay = toxics.compactMap(\.toxic.closeDelay).max()
        let close: @Sendable () -> Void = { [connection, direction, limitReached] in
            connection.flowFinished(direction, closeBoth: limitReached)
        }
        if let delay {
            sink.eventLoop.scheduleTask(in: TimeAmount(delay)) { close() }
        } else {
            close()
        }
    }

    func cancelTimers() {
        releaseTask?.cancel()
        releaseTask = nil
    }
}
