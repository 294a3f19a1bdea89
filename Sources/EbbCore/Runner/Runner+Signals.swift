import Foundation
import Synchronization

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
private final class TaskBox: Sendable {
    private let state = Mutex<(task: Task<RunResult, Never>?, cancelled: Bool)>((nil, false))

    func set(_ task: Task<RunResult, Never>) {
        let cancelNow = state.withLock { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancelNow { task.cancel() }
    }

    func cancel() {
        let task = state.withLock { state -> Task<RunResult, Never>? in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}
