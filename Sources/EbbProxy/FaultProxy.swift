import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy that forwards `listen` to `upstream` and applies ``ProxyRule``s. Without rules it
/// is a transparent pass-through that relays in the kernel (``SpliceRelay``); connections a
/// rule may touch run on SwiftNIO (``ProxyConnection``). It lives in the runner's process: when
/// that process ends, so does the proxy, and its clients get "connection refused".
public final class FaultProxy: Sendable {
    public let name: String
    public let listen: ProxyAddress
    public let upstream: ProxyAddress
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let state = Mutex(State())
    private let logger: Logger

    /// What the runner's threads, the proxy's event loop and its relay's thread change.
    private struct State {
        /// Owns the listener and relays connections while no rule exists (see ``SpliceRelay``).
        var relay: SpliceRelay?
        var rules: [ProxyRule] = []
        /// Bumped on every change of `rules`; each connection reports the last one it applied.
        var generation = 0
        var connections: [ObjectIdentifier: (connection: ProxyConnection, applied: Int)] = [:]
        var isStopped = false
        /// When a client was last reported closed for an unreachable upstream, and how many since.
        var unreachableReported: ContinuousClock.Instant?
        var unreachableSince = 0
    }

    /// `logger` hears of clients closed because the upstream could not be reached.
    public init(name: String, listen: ProxyAddress, upstream: ProxyAddress, logger: Logger = Logger(label: "ebb.proxy"))
    {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.logger = logger
    }

    /// Warns that a client was closed because no upstream address answered; at most one
    /// warning per 10 s, counting the others, so a dependency that is down does not flood the log.
    func upstreamUnreachable(_ reason: String) {
        let message = state.withLock { state -> String? in
            let now = ContinuousClock.now
            if let last = state.unreachableReported, last.duration(to: now) < .seconds(10) {
                state.unreachableSince += 1
                return nil
            }
            defer {
                state.unreachableReported = now
                state.unreachableSince = 0
            }
            let others = state.unreachableSince > 0 ? "; \(state.unreachableSince) more since the last warning" : ""
            return "proxy \(name): closed a client's connection, upstream \(upstream) unreachable (\(reason))\(others)"
        }
        if let message { logger.warning("\(message)") }
    }

    /// Reads of up to 256 KiB and up to 512 KiB unsent per socket: fewer system calls and
    /// wake-ups per byte than NIO's defaults (64 KiB), still a bound on memory per connection.
    static let reads = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
    static let writeBuffer = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 512 * 1024)

    /// Binds the listening socket; throws when the address is taken or the proxy was stopped.
    public func start() throws {
        let loop = group.next()
        let relay = try SpliceRelay(
            listen: listen, upstream: upstream, eventLoop: loop,
            upstreamUnreachable: { [weak self] in self?.upstreamUnreachable($0) }
        ) { [weak self] adoption in
            guard let self else {
                adoption.close()
                return loop.makeSucceededVoidFuture()
            }
            return self.adopt(adoption)
        }
        let started = state.withLock { state -> Bool in
            guard !state.isStopped, state.relay == nil else { return false }
            state.relay = relay
            return true
        }
        guard started else {
            relay.stop()
            throw ChannelError.ioOnClosedChannel
        }
        relay.start(name: name)
    }

    /// The port it listens on (the configured one, or the one the system chose for port 0).
    public var port: Int { state.withLock { $0.relay?.port } ?? listen.port }

    /// Stops listening and closes every connection. Idempotent.
    public func stop() {
        let (wasStopped, relay) = state.withLock { state -> (Bool, SpliceRelay?) in
            defer { state.isStopped = true }
            return (state.isStopped, state.relay)
        }
        guard !wasStopped else { return }
        relay?.stop()
        try? group.syncShutdownGracefully()
    }

    /// Sets up a channel the way both sides of a proxied connection need it.
    private static func configured(_ bootstrap: ClientBootstrap) -> ClientBootstrap {
        bootstrap
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: Self.reads)
            .channelOption(.writeBufferWaterMark, value: Self.writeBuffer)
    }

    /// Takes sockets from the relay onto the NIO path: dials the upstream when the relay has not,
    /// and starts a ``ProxyConnection`` with the bytes the relay still held. Completes once the
    /// connection has taken the proxy's rules.
    private func adopt(_ adoption: SpliceRelay.Adoption) -> EventLoopFuture<Void> {
        let loop = group.next()
        let upstream = self.upstream
        return Self.configured(ClientBootstrap(group: loop))
            .channelInitializer { [weak self] client in
                guard let proxy = self else { return client.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
                let bootstrap = Self.configured(ClientBootstrap(group: client.eventLoop))
                let upstreamChannel =
                    adoption.claimUpstream().map { bootstrap.withConnectedSocket($0) }
                    ?? bootstrap.connectTimeout(.seconds(5)).connect(host: upstream.host, port: upstream.port).always {
                        result in
                        if case .failure(let error) = result { proxy.upstreamUnreachable("\(error)") }
                    }
                return upstreamChannel.flatMapThrowing { upstreamChannel in
                    do {
                        try ProxyConnection(
                            client: client, upstream: upstreamChannel, proxy: proxy,
                            pending: (adoption.toUpstream, adoption.toClient), finished: adoption.finished
                        ).install()
                    } catch {
                        upstreamChannel.close(promise: nil)
                        throw error
                    }
                }
            }
            .withConnectedSocket(adoption.client)
            .map { _ in }
            // NIO closed the client's socket; an upstream socket it never took is still ours.
            .recover { _ in adoption.claimUpstream().map { _ = close($0) } }
    }

    /// Whether it still accepts connections.
    public var isListening: Bool { state.withLock { !$0.isStopped && $0.relay != nil } }

    // MARK: rules

    /// Applies `rule` to existing and new connections until it is removed, or at `deadline` at
    /// the latest (even if the runner's own rollback never comes).
    /// Returns once every open connection applies it. Not to be called on the proxy's event loop.
    public func add(_ rule: ProxyRule, until deadline: Date) {
        // A proxy stopped meanwhile has no connection left to wait for.
        try? update {
            $0.removeAll { $0.id == rule.id }; $0.append(rule)
        }?.wait()
        // A deadline years away (none given) needs no timer.
        let seconds = deadline.timeIntervalSinceNow
        guard seconds < 365 * 86_400 else { return }
        group.next().scheduleTask(in: .nanoseconds(Int64(max(0, seconds) * 1e9))) { [weak self] in
            _ = self?.update { $0.removeAll { $0.id == rule.id } }
        }
    }

    /// Takes rule `id` off; returns once every open connection has let go of it. Not to be
    /// called on the proxy's event loop.
    public func remove(_ id: String) {
        try? update { $0.removeAll { $0.id == id } }?.wait()
    }

    /// True when no rule `id` is left and every connection has applied the rules without it.
    public func isClean(of id: String) -> Bool {
        state.withLock { state in
            !state.rules.contains { $0.id == id }
                && state.connections.values.allSatisfy { $0.applied == state.generation }
        }
    }

    public var activeRules: [ProxyRule] { state.withLock { $0.rules } }

    /// Changes the rules and hands them to every connection; the result completes once all
    /// applied them. Nil once the proxy is stopped (its event loop is gone; nothing to wait for).
    private func update(_ change: (inout [ProxyRule]) -> Void) -> EventLoopFuture<Void>? {
        // The relay is told under the lock, so it sees rule changes in the order they happen.
        let changed = state.withLock { state -> ([ProxyRule], Int, [ProxyConnection], EventLoopFuture<Void>?)? in
            guard !state.isStopped else { return nil }
            change(&state.rules)
            state.generation += 1
            var handOff: EventLoopFuture<Void>?
            if state.rules.isEmpty { state.relay?.routeToSplice() } else { handOff = state.relay?.routeToNIO() }
            return (state.rules, state.generation, state.connections.values.map(\.connection), handOff)
        }
        guard let (snapshot, current, targets, handOff) = changed else { return nil }
        let applied = targets.map { connection in
            connection.eventLoop.submit { connection.apply(snapshot, generation: current) }
        }
        return EventLoopFuture.andAllComplete(applied + [handOff].compactMap { $0 }, on: group.next())
    }

    // MARK: connections

    /// Registers a new connection and hands it the rules to apply; nil once the proxy is stopping.
    func register(_ connection: ProxyConnection) -> ([ProxyRule], Int)? {
        state.withLock { state in
            guard !state.isStopped else { return nil }
            state.connections[ObjectIdentifier(connection)] = (connection, 0)
            return (state.rules, state.generation)
        }
    }

    func unregister(_ connection: ProxyConnection) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    func noteApplied(_ connection: ProxyConnection, generation applied: Int) {
        // A connection unregistered meanwhile stays unregistered: optional chaining assigns nothing.
        state.withLock { $0.connections[ObjectIdentifier(connection)]?.applied = applied }
    }

    /// Open client connections.
    public var connectionCount: Int { state.withLock { $0.connections.count + ($0.relay?.connectionCount ?? 0) } }

    /// Open client connections on the zero-copy path (accepted while no rule existed, and none
    /// has arrived since), dialling their upstream or relayed in the kernel.
    public var zeroCopyConnectionCount: Int { state.withLock { $0.relay?.connectionCount ?? 0 } }

    /// Bytes held for all connections on the NIO path: toxic queues plus unsent channel buffers
    /// (spliced connections hold theirs in kernel pipes, never in Ebb's memory). Backpressure
    /// bounds it per connection and direction by ``ProxyFlow/highWater``, the write buffer's
    /// high mark and one batch of reads.
    public func bufferedBytes() throws -> Int {
        let all = state.withLock { $0.connections.values.map(\.connection) }
        let counts = try all.map { connection in try connection.eventLoop.submit { connection.bufferedBytes }.wait() }
        return counts.reduce(0, +)
    }
}

/// `host:port` of a proxy's listener or upstream.
public struct ProxyAddress: Sendable, Equatable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; nil when it is not that.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
