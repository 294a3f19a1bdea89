import Foundation

extension Recovery {
    /// Executes `runs` one after another, the loop `ebb rollback execute` and `ebb run --recover`
    /// share: a run that cannot be executed never stops the others. `each` hears every run's
    /// outcome as soon as it is known (to print it, write its reports). True when every run was
    /// executed and verified complete.
    public func execute(_ runs: [RunSnapshot], each: (RunSnapshot, Result<RecoveryReport, any Error>) -> Void) -> Bool {
        var complete = true
        for run in runs {
            do {
                let report = try execute(run)
                each(run, .success(report))
                complete = complete && report.isComplete
            } catch {
                each(run, .failure(error))
                complete = false
            }
        }
        return complete
    }
}
