import CLinuxIO

#if canImport(Glibc)
import Glibc
#endif

/// A client connection and its upstream connection, relayed by a ``SpliceLane`` each way.
/// Owned by the relay's thread; it owns both sockets until it closes them or hands them off.
final class SplicedConnection {
    let client: CInt
    let upstream: CInt
    let toUpstream: SpliceLane
    let toClient: SpliceLane
    /// In the relay's list of connections to pump again without waiting for epoll.
    var isQueued = false
    private(set) var isOpen = true

    init(client: CInt, upstream: CInt) throws(SocketError) {
        self.client = client
        self.upstream = upstream
        toUpstream = try SpliceLane(source: client, sink: upstream)
        do {
            toClient = try SpliceLane(source: upstream, sink: client)
        } catch {
            toUpstream.closePipe()
            throw error
        }
    }

    enum Outcome { case waiting, yielded, done }

    /// Notes what epoll reported for one of its sockets.
    func note(_ events: UInt32, on descriptor: CInt) {
        let failed = events & (EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0
        // The client is one lane's source and the other's sink; so is the upstream.
        let (reading, writing) = descriptor == client ? (toUpstream, toClient) : (toClient, toUpstream)
        if failed || events & EPOLLIN.rawValue != 0 { reading.sourceBecameReady() }
        if failed || events & EPOLLOUT.rawValue != 0 { writing.sinkBecameReady() }
    }

    /// Pumps both lanes. A failed socket ends the connection: like the NIO path, it closes both.
    func pump() -> Outcome {
        do {
            let upward = try toUpstream.pump()
            let downward = try toClient.pump()
            if upward == .finished, downward == .finished { return .done }
            return upward == .yielded || downward == .yielded ? .yielded : .waiting
        } catch {
            return .done
        }
    }

    /// Closes both sockets and both pipes.
    func close() {
        guard isOpen else { return }
        isOpen = false
        toUpstream.closePipe()
        toClient.closePipe()
        Glibc.close(client)
        Glibc.close(upstream)
    }

    /// Gives up both sockets with what waits in the pipes, for the NIO path to take over.
    func release() -> SpliceRelay.Adoption {
        isOpen = false
        let finished = Set(
            [(ProxyDirection.upstream, toUpstream), (.downstream, toClient)].filter { $0.1.isFinished }.map(\.0))
        return SpliceRelay.Adoption(
            client: client, upstream: upstream,
            toUpstream: toUpstream.takePendingAndClosePipe(),
            toClient: toClient.takePendingAndClosePipe(),
            finished: finished)
    }
}
