import EbbCore

#if canImport(Glibc)
import Glibc
#endif

/// A client waiting while the relay connects to the upstream, trying its addresses in order
/// (`localhost` may be `::1` first while the upstream listens on 127.0.0.1 only).
final class UpstreamDial {
    let client: CInt
    let deadline: ContinuousClock.Instant
    private let addresses: [ResolvedAddress]
    private var next = 0
    /// The socket of the attempt in flight.
    private(set) var socket: CInt?
    /// Why the last attempt failed, for the report when all of them did.
    private(set) var lastFailure = "no address"

    init(client: CInt, addresses: [ResolvedAddress], deadline: ContinuousClock.Instant) {
        self.client = client
        self.addresses = addresses
        self.deadline = deadline
    }

    /// Starts a non-blocking connect to the next address; nil when none is left.
    func connectNext() -> (descriptor: CInt, inProgress: Bool)? {
        while next < addresses.count {
            let address = addresses[next]
            next += 1
            let descriptor = Glibc.socket(
                address.family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue),
                0)
            guard descriptor >= 0 else {
                noteFailure(errno)
                continue
            }
            if address.withSocketAddress({ connect(descriptor, $0, $1) }) == 0 {
                socket = descriptor
                return (descriptor, false)
            }
            if errno == EINPROGRESS {
                socket = descriptor
                return (descriptor, true)
            }
            noteFailure(errno)
            close(descriptor)
        }
        return nil
    }

    func noteFailure(_ code: CInt) { lastFailure = SystemCallError.reason(errno: code) }

    func noteTimeout() { lastFailure = "no answer within 5 s" }

    /// Closes the attempt in flight (it failed), keeping the client for the next address.
    func dropSocket() {
        if let socket { close(socket) }
        socket = nil
    }

    /// Gives up: closes the attempt in flight and the client.
    func abandon() {
        dropSocket()
        close(client)
    }
}
