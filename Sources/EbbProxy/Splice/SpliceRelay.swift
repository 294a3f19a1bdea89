import CLinuxIO
import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The proxy's listener and its zero-copy path. While the proxy has no rule, each connection is
/// relayed with splice(2), so clean pass-through costs no copy through user space; once a rule
/// exists, connections go to the NIO path (``ProxyConnection``), which applies toxics.
///
/// Written by hand because SwiftNIO reads every byte into a `ByteBuffer` and has no splice, and
/// it does not expose a channel's socket: this path owns the listening socket, accepts, dials
/// the upstream and runs its own epoll loop on one thread. NIO takes sockets over through
/// `withConnectedSocket`, together with the bytes still in the pipes, so a hand-off loses nothing.
final class SpliceRelay: @unchecked Sendable {
    /// Sockets for the NIO path: a client, its upstream if already dialled, bytes the relay
    /// had read but not yet written each way, and the directions whose end it already passed
    /// on (their sink's output is shut). The upstream socket is claimed once, by whoever wraps
    /// it in a channel or closes it.
    final class Adoption: Sendable {
        let client: CInt
        let toUpstream: [UInt8]
        let toClient: [UInt8]
        let finished: Set<ProxyDirection>
        private let upstream: Mutex<CInt?>

        init(
            client: CInt, upstream: CInt?, toUpstream: [UInt8] = [], toClient: [UInt8] = [],
            finished: Set<ProxyDirection> = []
        ) {
            self.client = client
            self.upstream = Mutex(upstream)
            self.toUpstream = toUpstream
            self.toClient = toClient
            self.finished = finished
        }

        /// The upstream socket, the first time only.
        func claimUpstream() -> CInt? {
            upstream.withLock { upstream in
                defer { upstream = nil }
                return upstream
            }
        }

        /// Closes both sockets (nobody took them).
        func close() {
            _ = Glibc.close(client)
            claimUpstream().map { _ = Glibc.close($0) }
        }
    }

    /// The port it listens on (the one the system chose when asked for port 0).
    let port: Int
    private let listener: CInt
    private let epoll: CInt
    private let wakeup: CInt
    private let upstream: ProxyAddress
    private let adopt: (Adoption) -> EventLoopFuture<Void>
    private let upstreamUnreachable: (String) -> Void
    private let eventLoop: EventLoop
    private let finished = DispatchSemaphore(value: 0)

    /// What other threads hand the relay's thread, and whether that thread ever started or has stopped.
    private let control = Mutex<(commands: [@Sendable () -> Void], isStarted: Bool, isStopped: Bool)>(
        ([], false, false))
    private let openConnections = Atomic<Int>(0)

    // Owned by the relay's thread.
    private var routesToNIO = false
    private var connections: [CInt: SplicedConnection] = [:]
    private var dials: [CInt: UpstreamDial] = [:]
    /// Clients waiting for the upstream's name to resolve.
    private var resolving = 0
    private var queued: [SplicedConnection] = []
    private var acceptPausedUntil: ContinuousClock.Instant?
    private var isRunning = true

    private static let dialTimeout = Duration.seconds(5)

    /// Once per process: splice(2) to a socket the peer reset raises SIGPIPE, which must not end
    /// the runner; and a spliced connection takes six descriptors (two sockets, two pipes), so
    /// the soft limit goes up to the hard one, as Go's runtime and most servers do.
    private static let prepareProcess: Void = {
        signal(SIGPIPE, SIG_IGN)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }()
    private static let connectionEvents = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue

    /// Binds `listen`; throws when the address is taken or does not resolve.
    /// `upstreamUnreachable` hears why a client was closed because no upstream address answered.
    init(
        listen: ProxyAddress, upstream: ProxyAddress, eventLoop: EventLoop,
        upstreamUnreachable: @escaping (String) -> Void,
        adopt: @escaping (Adoption) -> EventLoopFuture<Void>
    ) throws(SocketError) {
        self.upstream = upstream
        self.eventLoop = eventLoop
        self.adopt = adopt
        self.upstreamUnreachable = upstreamUnreachable
        Self.prepareProcess
        listener = try Self.listen(on: listen)
        port = Self.localPort(of: listener)
        epoll = epoll_create1(CInt(EPOLL_CLOEXEC))
        wakeup = eventfd(0, CInt(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epoll >= 0, wakeup >= 0 else {
            let error = SocketError("epoll")
            [listener, epoll, wakeup].filter { $0 >= 0 }.forEach { _ = close($0) }
            throw error
        }
        watch(listener, events: EPOLLIN.rawValue)
        watch(wakeup, events: EPOLLIN.rawValue)
    }

    /// Starts the relay's thread.
    func start(name: String) {
        control.withLock { $0.isStarted = true }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "ebb-proxy-\(name)"
        thread.start()
    }

    /// Open connections on this path (dialling or relayed).
    var connectionCount: Int { openConnections.load(ordering: .relaxed) }

    /// From now on, accepted connections go to the NIO path, and so does every open one; the
    /// result completes once all of those have started there.
    func routeToNIO() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        guard
            perform({ [self] in
                routesToNIO = true
                // Stopping: the connections are closed, not handed to an event loop about to end.
                guard isRunning else { return promise.succeed() }
                var seen = Set<ObjectIdentifier>()
                let open = connections.values.filter { seen.insert(ObjectIdentifier($0)).inserted }
                let started = open.map { handOff($0) }
                EventLoopFuture.andAllComplete(started, on: eventLoop).cascade(to: promise)
            })
        else {
            promise.succeed()
            return promise.futureResult
        }
        return promise.futureResult
    }

    /// New connections take the zero-copy path again; those on the NIO path stay there.
    func routeToSplice() {
        _ = perform { [self] in routesToNIO = false }
    }

    /// Closes the listener and every connection on this path; returns when the thread ended.
    func stop() {
        let neverStarted = control.withLock { control -> Bool in
            guard !control.isStarted, !control.isStopped else { return false }
            control.isStopped = true
            return true
        }
        if neverStarted { return [listener, epoll, wakeup].forEach { _ = close($0) } }
        guard perform({ [self] in isRunning = false }) else { return }
        finished.wait()
    }

    /// Queues `command` for the relay's thread; false once it stopped.
    private func perform(_ command: @escaping @Sendable () -> Void) -> Bool {
        // The wake-up is written under the lock: once the thread has marked itself stopped it
        // closes the eventfd, and its number may then belong to another file.
        control.withLock { control in
            guard !control.isStopped else { return false }
            control.commands.append(command)
            _ = eventfd_write(wakeup, 1)
            return true
        }
    }

    // MARK: the loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while isRunning {
            let count = epoll_wait(epoll, &events, CInt(events.count), queued.isEmpty ? waitMilliseconds() : 0)
            for event in events.prefix(max(0, Int(count))) {
                let descriptor = CInt(truncatingIfNeeded: event.data.u64)
                if descriptor == wakeup {
                    runCommands()
                } else if descriptor == listener {
                    acceptAll()
                } else if let dial = dials[descriptor] {
                    progress(dial)
                } else if let connection = connections[descriptor] {
                    connection.note(event.events, on: descriptor)
                    pump(connection)
                }
            }
            let again = queued
            queued = []
            for connection in again where connection.isOpen {
                connection.isQueued = false
                pump(connection)
            }
            expireDials()
            resumeAcceptingIfDue()
        }
        control.withLock { $0.isStopped = true }
        runCommands()
        for connection in connections.values { connection.close() }
        for dial in dials.values { dial.abandon() }
        connections = [:]
        dials = [:]
        publishCount()
        [listener, epoll, wakeup].forEach { _ = close($0) }
    }

    private func runCommands() {
        var value: eventfd_t = 0
        _ = eventfd_read(wakeup, &value)
        let pending = control.withLock { control in
            defer { control.commands = [] }
            return control.commands
        }
        for command in pending { command() }
    }

    /// How long epoll may wait: until the nearest dial deadline or the end of an accept pause.
    private func waitMilliseconds() -> CInt {
        var nearest = acceptPausedUntil
        for dial in dials.values where nearest.map({ dial.deadline < $0 }) ?? true { nearest = dial.deadline }
        guard let nearest else { return -1 }
        let left = ContinuousClock.now.duration(to: nearest)
        return CInt(
            max(
                0, min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000)
            ))
    }

    private func pump(_ connection: SplicedConnection) {
        switch connection.pump() {
        case .waiting:
            break
        case .yielded:
            if !connection.isQueued {
                connection.isQueued = true
                queued.append(connection)
            }
        case .done:
            forget(connection)
            connection.close()
        }
    }

    // MARK: accepting

    private func acceptAll() {
        while true {
            let client = ebb_accept(listener)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EAGAIN:
                    return
                default:
                    // Out of descriptors (EMFILE) or another failure: the queue stays in the
                    // kernel's backlog; retry shortly rather than spin on a readable listener.
                    acceptPausedUntil = .now + .milliseconds(100)
                    change(listener, events: 0)
                    return
                }
            }
            setNoDelay(client)
            if routesToNIO {
                _ = adopt(Adoption(client: client, upstream: nil))
            } else {
                dial(for: client)
            }
        }
    }

    private func resumeAcceptingIfDue() {
        guard let until = acceptPausedUntil, until <= .now else { return }
        acceptPausedUntil = nil
        change(listener, events: EPOLLIN.rawValue)
    }

    // MARK: dialling the upstream

    /// Resolves the upstream for each connection, as the NIO path does, so a name that moves
    /// is followed: an address at once, a name on another thread (a slow DNS server must not
    /// hold the relay).
    private func dial(for client: CInt) {
        if let addresses = ResolvedAddress.numeric(host: upstream.host, port: upstream.port) {
            return attempt(UpstreamDial(client: client, addresses: addresses, deadline: .now + Self.dialTimeout))
        }
        resolving += 1
        publishCount()
        let upstream = self.upstream
        DispatchQueue.global().async { [self] in
            let addresses = (try? ResolvedAddress.all(host: upstream.host, port: upstream.port)) ?? []
            let queued = perform { [self] in
                resolving -= 1
                publishCount()
                guard isRunning, !addresses.isEmpty else {
                    if isRunning { upstreamUnreachable("cannot resolve \(upstream.host)") }
                    return _ = close(client)
                }
                attempt(UpstreamDial(client: client, addresses: addresses, deadline: .now + Self.dialTimeout))
            }
            if !queued { close(client) }
        }
    }

    /// Tries the dial's next address; a connection every address refuses is closed, as on the NIO path.
    private func attempt(_ dial: UpstreamDial) {
        while let socket = dial.connectNext() {
            if socket.inProgress {
                dials[socket.descriptor] = dial
                watch(socket.descriptor, events: EPOLLOUT.rawValue | EPOLLET.rawValue)
                publishCount()
                return
            }
            return established(client: dial.client, upstream: socket.descriptor, watched: false)
        }
        upstreamUnreachable(dial.lastFailure)
        dial.abandon()
    }

    private func progress(_ dial: UpstreamDial) {
        guard let socket = dial.socket else { return }
        dials[socket] = nil
        var failure: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        let status = getsockopt(socket, SOL_SOCKET, SO_ERROR, &failure, &length)
        if status == 0, failure == 0 {
            established(client: dial.client, upstream: socket, watched: true)
        } else {
            dial.noteFailure(status == 0 ? failure : errno)
            dial.dropSocket()
            attempt(dial)
        }
        publishCount()
    }

    private func expireDials() {
        guard !dials.isEmpty else { return }
        let now = ContinuousClock.now
        for (socket, dial) in dials where dial.deadline <= now {
            dials[socket] = nil
            dial.noteTimeout()
            upstreamUnreachable(dial.lastFailure)
            dial.abandon()
        }
        publishCount()
    }

    private func established(client: CInt, upstream: CInt, watched: Bool) {
        setNoDelay(upstream)
        if watched { epoll_ctl(epoll, EPOLL_CTL_DEL, upstream, nil) }
        guard !routesToNIO else {
            _ = adopt(Adoption(client: client, upstream: upstream))
            return
        }
        guard let connection = try? SplicedConnection(client: client, upstream: upstream) else {
            // No descriptors left for pipes: the NIO path needs none.
            _ = adopt(Adoption(client: client, upstream: upstream))
            return
        }
        connections[client] = connection
        connections[upstream] = connection
        // Adding reports what is already there (the client may have sent its request meanwhile).
        watch(client, events: Self.connectionEvents)
        watch(upstream, events: Self.connectionEvents)
        publishCount()
        pump(connection)
    }

    // MARK: connections

    private func handOff(_ connection: SplicedConnection) -> EventLoopFuture<Void> {
        epoll_ctl(epoll, EPOLL_CTL_DEL, connection.client, nil)
        epoll_ctl(epoll, EPOLL_CTL_DEL, connection.upstream, nil)
        forget(connection)
        return adopt(connection.release())
    }

    private func forget(_ connection: SplicedConnection) {
        connections[connection.client] = nil
        connections[connection.upstream] = nil
        publishCount()
    }

    private func publishCount() {
        openConnections.store(connections.count / 2 + dials.count + resolving, ordering: .relaxed)
    }

    // MARK: system calls

    private func watch(_ descriptor: CInt, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(UInt32(bitPattern: descriptor))
        if epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) != 0, errno == EEXIST {
            epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
        }
    }

    private func change(_ descriptor: CInt, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(UInt32(bitPattern: descriptor))
        epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
    }

    private func setNoDelay(_ socket: CInt) {
        var on: CInt = 1
        setsockopt(socket, CInt(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<CInt>.size))
    }

    private static func listen(on address: ProxyAddress) throws(SocketError) -> CInt {
        guard let local = try ResolvedAddress.all(host: address.host, port: address.port, forListening: true).first
        else {
            throw SocketError("resolve \(address.host)", detail: "no address")
        }
        let socket = Glibc.socket(
            local.family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw SocketError("socket") }
        var on: CInt = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<CInt>.size))
        guard local.withSocketAddress({ bind(socket, $0, $1) }) == 0 else {
            let error = SocketError("bind")
            close(socket)
            throw error
        }
        guard Glibc.listen(socket, 1024) == 0 else {
            let error = SocketError("listen")
            close(socket)
            throw error
        }
        return socket
    }

    private static func localPort(of socket: CInt) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return withUnsafeBytes(of: storage) { raw in
            // sin_port and sin6_port sit at the same offset, in network order.
            Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
        }
    }
}
