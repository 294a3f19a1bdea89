import Foundation
import Synchronization

/// Blocking work on many targets at once, bounded: `ebb run --forks` (faults of a scenario
/// planned, prepared and injected at once, hosts connected to) and the rollback of independent
/// records. Each item
/// is system work that waits (a command, an API call, an fsync), so threads, not the
/// cooperative pool, which has one thread per core and must stay free for the health checks.
public enum Forks {
    /// The default of `--forks`: enough to hide the latency of commands and remote calls,
    /// few enough not to swamp a small CI machine with processes.
    public static let defaultLimit = 10

    /// Calls `body` for every index in `0..<count`, at most `limit` at once, and returns the
    /// results in index order. With a limit of 1 (or one item) everything runs in order on the
    /// calling thread, exactly as a plain loop.
    public static func map<T: Sendable>(_ count: Int, limit: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 1, limit > 1 else { return (0..<count).map(body) }
        let state = State<T>(count: count)
        let done = DispatchGroup()
        // The calling thread is one of the workers: it would only wait otherwise.
        for _ in 1..<min(limit, count) {
            done.enter()
            Blocking.detach {
                state.work(body)
                done.leave()
            }
        }
        state.work(body)
        done.wait()
        return state.results
    }

    /// Hands out indices and collects results; `body` runs outside the lock.
    private final class State<T: Sendable>: Sendable {
        private let progress: Mutex<(next: Int, slots: [T?])>

        init(count: Int) { progress = Mutex((0, Array(repeating: nil, count: count))) }

        func work(_ body: @Sendable (Int) -> T) {
            while let index = take() {
                let value = body(index)
                progress.withLock { $0.slots[index] = value }
            }
        }

        private func take() -> Int? {
            progress.withLock { progress in
                guard progress.next < progress.slots.count else { return nil }
                defer { progress.next += 1 }
                return progress.next
            }
        }

        var results: [T] { progress.withLock { $0.slots.map { $0! } } }
    }
}
