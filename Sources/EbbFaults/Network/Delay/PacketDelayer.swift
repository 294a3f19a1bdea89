import CNetfilterQueue
import EbbCore
import Foundation
import HeapModule

#if canImport(Glibc)
import Glibc
#endif

/// The user-space half of `network.delay` where the kernel has no netem: binds an NFQUEUE
/// queue, holds every packet the fault's iptables rule sends there for the delay (plus or minus
/// a uniform jitter), then accepts it. Runs as `ebb delay-worker` in a session of its own and
/// ends itself at the fault's deadline; the rule's `--queue-bypass` lets traffic flow unheld
/// whenever no delayer is bound. No library holds-and-releases packets on a schedule, hence
/// this loop; libnetfilter_queue does the netlink work.
public final class PacketDelayer {
    /// A packet waiting for its verdict; the heap orders by due time.
    struct HeldPacket: Comparable {
        var due: UInt64
        var id: UInt32
        static func < (lhs: Self, rhs: Self) -> Bool { lhs.due < rhs.due }
    }

    public struct Options: Sendable {
        public var queue: UInt16
        public var delay: Duration
        public var jitter: Duration
        /// When the worker stops by itself, whatever happened to Ebb.
        public var until: Date
        /// Written once the queue is bound, so the fault adds its rule only then.
        public var readyFile: String?

        public init(queue: UInt16, delay: Duration, jitter: Duration, until: Date, readyFile: String?) {
            self.queue = queue
            self.delay = delay
            self.jitter = jitter
            self.until = until
            self.readyFile = readyFile
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let options: Options
    private var held = Heap<HeldPacket>()
    private var queueHandle: OpaquePointer?
    private(set) var delayed = 0

    public init(options: Options) { self.options = options }

    /// Holds and releases packets until the deadline or SIGTERM/SIGINT, then lets every held
    /// packet go. Returns how many packets it delayed.
    public func run() throws -> Int {
        guard let handle = nfq_open() else { throw Failure(description: "\(systemError("nfq_open")) (needs root)") }
        defer { nfq_close(handle) }
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let queue = nfq_create_queue(handle, options.queue, packetArrived, context) else {
            throw Failure(
                description: "cannot bind NFQUEUE \(options.queue): it is in use, or the kernel has no nfnetlink_queue")
        }
        queueHandle = queue
        defer { nfq_destroy_queue(queue) }
        // Only the packet id is needed; a full queue lets packets through rather than dropping them.
        nfq_set_mode(queue, UInt8(NFQNL_COPY_META.rawValue), 0)
        nfq_set_queue_maxlen(queue, 65_536)
        nfq_set_queue_flags(queue, UInt32(NFQA_CFG_F_FAIL_OPEN), UInt32(NFQA_CFG_F_FAIL_OPEN))
        _ = nfnl_rcvbufsiz(nfq_nfnlh(handle), 8 << 20)
        let socket = nfq_fd(handle)
        var one: Int32 = 1
        setsockopt(socket, Int32(SOL_NETLINK), Int32(NETLINK_NO_ENOBUFS), &one, socklen_t(MemoryLayout<Int32>.size))

        // Signals arrive as readable data beside the queue's socket: no handler, no races.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigprocmask(SIG_BLOCK, &signals, nil)
        let signalDescriptor = signalfd(-1, &signals, Int32(SFD_CLOEXEC))
        guard signalDescriptor >= 0 else { throw Failure(description: systemError("signalfd").description) }
        defer { close(signalDescriptor) }

        if let readyFile = options.readyFile {
            try "\(getpid())\n".write(toFile: readyFile, atomically: true, encoding: .utf8)
        }
        let end = Self.monotonicNow() + UInt64(max(0, options.until.timeIntervalSinceNow) * 1e9)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        // The next release is a timerfd at an absolute monotonic time: poll's millisecond
        // timeout would let every packet go up to 1 ms late.
        let timer = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        guard timer >= 0 else { throw Failure(description: systemError("timerfd_create").description) }
        defer { close(timer) }
        var descriptors = [
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signalDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: timer, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let now = Self.monotonicNow()
            releaseDue(now)
            if now >= end { break }
            let wake = min(end, held.min?.due ?? end)
            var setting = itimerspec(
                it_interval: timespec(),
                it_value: timespec(tv_sec: Int(wake / 1_000_000_000), tv_nsec: Int(wake % 1_000_000_000)))
            timerfd_settime(timer, Int32(TFD_TIMER_ABSTIME), &setting, nil)
            for index in descriptors.indices { descriptors[index].revents = 0 }
            if poll(&descriptors, 3, -1) < 0 && errno != EINTR {
                let failure = systemError("poll")
                releaseDue(.max)
                throw Failure(description: failure.description)
            }
            if descriptors[1].revents != 0 { break }
            if descriptors[2].revents != 0 {
                var expirations: UInt64 = 0
                _ = read(timer, &expirations, 8)
            }
            if descriptors[0].revents != 0 {
                while true {
                    let count = buffer.withUnsafeMutableBytes {
                        recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                    }
                    guard count > 0 else { break }
                    _ = buffer.withUnsafeMutableBytes { bytes in
                        nfq_handle_packet(handle, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(count))
                    }
                }
            }
        }
        releaseDue(.max)
        return delayed
    }

    fileprivate func hold(_ id: UInt32) {
        let delay = options.delay.nanoseconds
        let jitter = options.jitter.nanoseconds
        let offset = jitter > 0 ? Int64.random(in: -jitter...jitter) : 0
        held.insert(HeldPacket(due: Self.monotonicNow() + UInt64(max(0, delay + offset)), id: id))
        delayed += 1
    }

    private func releaseDue(_ now: UInt64) {
        while let first = held.min, first.due <= now {
            _ = held.removeMin()
            nfq_set_verdict(queueHandle, first.id, UInt32(NF_ACCEPT), 0, nil)
        }
    }

    private static func monotonicNow() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// libnetfilter_queue's callback: a C function, so it finds its delayer through `context`.
private func packetArrived(
    _ queue: OpaquePointer?, _ message: UnsafeMutablePointer<nfgenmsg>?,
    _ data: OpaquePointer?, _ context: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context, let header = nfq_get_msg_packet_hdr(data) else { return 0 }
    Unmanaged<PacketDelayer>.fromOpaque(context).takeUnretainedValue().hold(UInt32(bigEndian: header.pointee.packet_id))
    return 0
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
