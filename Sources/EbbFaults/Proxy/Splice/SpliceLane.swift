import CLinuxIO
#if canImport(Glibc)
import Glibc
#endif

/// One direction of a spliced connection: `source` socket → pipe → `sink` socket, moved by the
/// kernel with splice(2), so the bytes never enter Ebb's memory. Both sockets are non-blocking;
/// the relay pumps the lane whenever epoll reports either of them.
final class SpliceLane {
    enum Progress: Equatable {
        /// Nothing more to read until the source is readable again.
        case waitingForSource
        /// Bytes wait in the pipe until the sink is writable again.
        case waitingForSink
        /// The lane used its share of this turn and has more to move.
        case yielded
        /// The source ended and everything reached the sink, whose writing side is shut.
        case finished
    }

    let source: CInt
    let sink: CInt
    private let pipeOutput: CInt
    private let pipeInput: CInt
    private var inPipe = 0
    private var moved = 0
    private var sourceEnded = false
    private var isGrown = false
    private(set) var isFinished = false

    /// A bulk lane gets a larger pipe: fewer splice calls per byte. Small exchanges keep the
    /// default 64 KiB, so many idle connections hold little kernel memory.
    private static let growAfter = 1 << 20
    private static let grownCapacity = CInt(1 << 20)
    /// Bytes a lane moves per turn before it lets other connections run.
    private static let turnBudget = 4 << 20

    init(source: CInt, sink: CInt) throws(SocketError) {
        var descriptors: [CInt] = [-1, -1]
        guard ebb_pipe(&descriptors) == 0 else { throw SocketError("pipe") }
        self.source = source
        self.sink = sink
        pipeOutput = descriptors[0]
        pipeInput = descriptors[1]
    }

    /// Moves what it can; throws when a socket failed (reset, broken pipe).
    func pump() throws(SocketError) -> Progress {
        var budget = Self.turnBudget
        while budget > 0 {
            if inPipe > 0 {
                let written = ebb_splice(pipeOutput, sink, inPipe)
                if written > 0 {
                    inPipe -= written
                    moved += written
                    budget -= written
                    continue
                }
                if errno == EINTR { continue }
                if errno == EAGAIN { return .waitingForSink }
                throw SocketError("splice to socket")
            }
            if sourceEnded {
                if !isFinished {
                    isFinished = true
                    shutdown(sink, Int32(SHUT_WR))
                }
                return .finished
            }
            let read = ebb_splice(source, pipeInput, 1 << 20)
            if read > 0 {
                inPipe += read
                growIfBulk()
            } else if read == 0 {
                sourceEnded = true
            } else if errno == EAGAIN {
                return .waitingForSource
            } else if errno != EINTR {
                throw SocketError("splice from socket")
            }
        }
        return .yielded
    }

    private func growIfBulk() {
        guard !isGrown, moved >= Self.growAfter else { return }
        isGrown = true
        // Refused above the user's pipe quota (unprivileged runs); the default size still works.
        _ = ebb_set_pipe_capacity(pipeInput, Self.grownCapacity)
    }

    /// Takes the bytes still in the pipe, for a hand-off to the NIO path, and closes the pipe.
    func takePendingAndClosePipe() -> [UInt8] {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while inPipe > 0 {
            let count = read(pipeOutput, &chunk, min(chunk.count, inPipe))
            if count > 0 {
                pending += chunk[..<count]
                inPipe -= count
            } else if count < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        closePipe()
        return pending
    }

    func closePipe() {
        close(pipeOutput)
        close(pipeInput)
    }
}
