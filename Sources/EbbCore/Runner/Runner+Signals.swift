import Foundation

extension Runner {
    /// Runs with SIGINT, SIGTERM and SIGHUP trapped: the first signal stops injecting and rolls
    /// everything back; later ones are reported and never cut a rollback short.
    public func runTrappingSignals(journal: RunJournal) async -> RunResult {
        let box = TaskBox()
        let trap = SignalTrap { [self] signal in
            noteSignal(signal)
            box.cancel()
        }
        let task = Task { await self.run(journal: journal) }
        box.set(task)
        let result = await task.value
        withExtendedLifetime(trap) {}
        return result
    }
}

/// Holds the run's task so a signal arriving before the task exists still cancels it.
private final class TaskBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<RunResult, Never>?
    private var cancelled = false

    func set(_ task: Task<RunResult, Never>) {
        let cancelNow = lock.withLock { () -> Bool in
            self.task = task
            return cancelled
        }
        if cancelNow { task.cancel() }
    }

    func cancel() {
        let task = lock.withLock { () -> Task<RunResult, Never>? in
            cancelled = true
            return self.task
        }
        task?.cancel()
    }
}
