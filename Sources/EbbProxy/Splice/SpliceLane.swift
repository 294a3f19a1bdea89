import CLinuxIO

#if canImport(Glibc)
import Glibc
#endif

/// One direction of a spliced connection: `source` socket → pipe → `sink` socket, moved by the
/// kernel with splice(2), so the bytes never enter Ebb's memory. Both sockets are non-blocking
/// and watched edge-triggered; the relay tells the lane which of them became ready.
final class SpliceLane {
    enum Progress: Equatable {
        /// Neither side can move now; an event on either socket brings the lane back.
        case waiting
        /// The lane used its share of this turn and has more to move.
        case yielded
        /// The source ended and everything reached the sink, whose writing side is shut.
        case finished
    }

    let source: CInt
    let sink: CInt
    private let pipeOutput: CInt
    private let pipeInput: CInt
    private var capacity: Int
    private var inPipe = 0
    private var moved = 0
    private var sourceEnded = false
    private var isGrown = false
    private(set) var isFinished = false
    /// Whether the source may have bytes (or its end) to read, and the sink room to write. A
    /// short read or write clears them; only an event, or room made in the pipe, sets them
    /// again. That saves the call that would just answer EAGAIN: with edge-triggered epoll,
    /// every later arrival or freed buffer space reports an event anyway.
    private var sourceMayBeReady = true
    private var sinkMayBeReady = true

    /// A bulk lane gets a larger pipe: fewer splice calls and wake-ups per byte. Small
    /// exchanges keep the default, so many idle connections hold little kernel memory.
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
        capacity = max(4096, Int(ebb_pipe_capacity(pipeInput)))
    }

    func sourceBecameReady() { sourceMayBeReady = true }
    func sinkBecameReady() { sinkMayBeReady = true }

    /// Moves what it can; throws when a socket failed (reset, broken pipe).
    ///
    /// The pipe is a real buffer: the lane reads while there is room and writes while there is
    /// data, so a sink that is briefly full does not stop reading.
    func pump() throws(SocketError) -> Progress {
        var budget = Self.turnBudget
        while budget > 0 {
            var progressed = false
            if inPipe > 0, sinkMayBeReady {
                let written = ebb_splice(pipeOutput, sink, inPipe)
                if written > 0 {
                    sinkMayBeReady = written == inPipe
                    inPipe -= written
                    moved += written
                    budget -= written
                    // Room in the pipe: a read cut short by a full pipe can go on.
                    sourceMayBeReady = true
                    progressed = true
                } else if errno == EAGAIN {
                    sinkMayBeReady = false
                } else if errno != EINTR {
                    throw SocketError("splice to socket")
                }
            }
            if !sourceEnded, sourceMayBeReady, inPipe < capacity {
                let wanted = capacity - inPipe
                let read = ebb_splice(source, pipeInput, wanted)
                if read > 0 {
                    sourceMayBeReady = read == wanted
                    inPipe += read
                    growIfBulk()
                    progressed = true
                } else if read == 0 {
                    sourceEnded = true
                    progressed = true
                } else if errno == EAGAIN {
                    sourceMayBeReady = false
                } else if errno != EINTR {
                    throw SocketError("splice from socket")
                }
            }
            if sourceEnded, inPipe == 0 {
                if !isFinished {
                    isFinished = true
                    shutdown(sink, Int32(SHUT_WR))
                }
                return .finished
            }
            if !progressed { return .waiting }
        }
        return .yielded
    }

    private func growIfBulk() {
        guard !isGrown, moved >= Self.growAfter else { return }
        isGrown = true
        // Refused above the user's pipe quota (unprivileged runs); the default size still works.
        let grown = ebb_set_pipe_capacity(pipeInput, Self.grownCapacity)
        if grown > 0 { capacity = Int(grown) }
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
