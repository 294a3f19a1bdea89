import EbbCore
import Foundation

extension RollbackSummary {
    /// The summary of a sweep (`ebb rollback sweep`): what it reverted with no journal, from the
    /// marks on the targets. `name` stands where a run id would (`sweep-<time>`); `problems`
    /// (what could not be read or listed) count as damaged, so the sweep reads as incomplete.
    public init(sweep name: String, results: [RollbackResult], problems: [String], actor: String) {
        runID = name
        journal = "none: swept from the marks on the targets"
        host = HostIdentity.current.hostname
        startedAt = nil
        writtenAt = Date()
        recoveredBy = actor
        signal = nil
        faults = results.map { Self.fault($0.record, duration: $0.duration) }
        damaged = problems
        totals = Self.totals(faults, damaged: damaged)
        let complete = problems.isEmpty && results.allSatisfy(\.succeeded)
        let status: ExitStatus = complete ? .passed : .rollbackIncomplete
        exitCode = status.rawValue
        exitMeaning = complete ? "every expired fault found was verified reverted" : status.meaning
        scenarios = []
        checks = []
    }

    /// `sweep-20261206T031500.123Z`: the sweep's name in its report files.
    public static func sweepName(at date: Date) -> String {
        "sweep-" + UTCTime.string(date).filter { $0 != "-" && $0 != ":" }
    }
}
