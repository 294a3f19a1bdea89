import Foundation
import Testing

/// Runs each test of a suite on a thread of its own (shared by every test target: they run in
/// one process, so a blocking suite anywhere starves the async tests everywhere). Swift Testing runs synchronous tests on
/// the cooperative pool, which has one thread per core (two on CI): two long end-to-end tests
/// waiting there for processes would leave no thread to the async tests (the sampler's, whose
/// samples are tasks), which then time out. The test keeps its task, and with it the test
/// context its expectations report to; only the thread that runs it changes.
public struct OwnThread: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else { return try await function() }
        let executor = ThreadExecutor()
        defer { executor.stop() }
        // A task of its own that prefers the thread: the test body is called from it, so even a
        // synchronous body runs there. Task-local values (the test context) are copied into it.
        // The task ends before this returns, so `function` never really escapes.
        try await withoutActuallyEscaping(function) { body in
            try await Task(executorPreference: executor) { try await body() }.value
        }
    }
}

extension Trait where Self == OwnThread {
    /// Each test runs on a thread of its own instead of the cooperative pool.
    public static var ownThread: OwnThread { OwnThread() }
}

/// A task executor with one thread that runs its jobs in order until stopped.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        let thread = Thread { [self] in run() }
        thread.name = "ebb.test"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func run() {
        // Named for `ps -L` and debuggers; Foundation's Thread.name does not reach the kernel here.
        try? "ebb.test".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
        while true {
            let job: UnownedJob? = condition.withLock {
                while jobs.isEmpty && !stopped { condition.wait() }
                return jobs.isEmpty ? nil : jobs.removeFirst()
            }
            guard let job else { return }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
