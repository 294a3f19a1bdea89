import Synchronization

/// The hold of a scenario's faults, which ends when its time is up, when a check with
/// `abort_on_breach` reports a breach, or when the run is cancelled (a signal).
final class Hold: Sendable {
    enum Ending: Equatable {
        case elapsed
        case breached(String)
        case cancelled
    }

    private struct State {
        var reason: String?
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Ends the hold early; only the first reason counts.
    func breach(_ reason: String) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.reason == nil else { return nil }
            state.reason = reason
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Holds for `duration` unless ended earlier.
    func wait(_ duration: Duration) async -> Ending {
        if let reason = state.withLock({ $0.reason }) { return .breached(reason) }
        return await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                do {
                    try await Task.sleep(for: duration)
                    return .elapsed
                } catch {
                    return .cancelled
                }
            }
            group.addTask { [self] in
                await waitForBreach()
                return state.withLock { $0.reason.map(Ending.breached) } ?? .cancelled
            }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            return first
        }
    }

    private func waitForBreach() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.reason != nil || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
