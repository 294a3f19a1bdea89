import Foundation

/// The hold of a scenario's faults, which ends when its time is up, when a check with
/// `abort_on_breach` reports a breach, or when the run is cancelled (a signal).
final class Hold: @unchecked Sendable {
    enum Ending: Equatable {
        case elapsed
        case breached(String)
        case cancelled
    }

    private let lock = NSLock()
    private var reason: String?
    private var waiter: CheckedContinuation<Void, Never>?

    /// Ends the hold early; only the first reason counts.
    func breach(_ reason: String) {
        let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            guard self.reason == nil else { return nil }
            self.reason = reason
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume()
    }

    /// Holds for `duration` unless ended earlier.
    func wait(_ duration: Duration) async -> Ending {
        if let reason = lock.withLock({ self.reason }) { return .breached(reason) }
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
                return lock.withLock { reason.map(Ending.breached) } ?? .cancelled
            }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            return first
        }
    }

    private func waitForBreach() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = lock.withLock { () -> Bool in
                    if reason != nil || Task.isCancelled { return true }
                    waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                defer { self.waiter = nil }
                return self.waiter
            }
            waiter?.resume()
        }
    }
}
