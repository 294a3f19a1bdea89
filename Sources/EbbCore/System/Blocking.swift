import Foundation

/// Runs blocking work (fsync, waiting for a command, polling /proc) on a thread of its own.
/// Swift concurrency has one cooperative thread per core; a CI runner with one core that
/// blocks it during a rollback would freeze every health check sampling at that moment and
/// stretch the downtime they measure.
public enum Blocking {
    public static func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            detach { continuation.resume(with: Result { try body() }) }
        }
    }

    public static func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            detach { continuation.resume(returning: body()) }
        }
    }

    /// Starts `body` on a thread of its own at once, without waiting for it. A serial dispatch
    /// queue of its own runs it on libdispatch's overcommitting pool: a new thread whenever none
    /// is idle (never queued behind other blocked work), and idle threads are reused, where a
    /// thread per call cost a clone, an 8 MiB stack mapping and its unmapping (about 4% of a
    /// 50-fault run's CPU).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        DispatchQueue(label: "ebb.blocking").async(execute: body)
    }
}
