import Foundation

/// Runs blocking work (fsync, waiting for a command, polling /proc) on a thread of its own.
/// Swift concurrency has one cooperative thread per core; a CI runner with one core that
/// blocks it during a rollback would freeze every health check sampling at that moment and
/// stretch the downtime they measure.
public enum Blocking {
    public static func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "ebb.blocking"
            thread.start()
        }
    }

    public static func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = "ebb.blocking"
            thread.start()
        }
    }
}
