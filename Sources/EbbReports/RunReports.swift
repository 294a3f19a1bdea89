import EbbCore
import Foundation

/// Writes a run's reports into the report folder: the rollback summary (JSON and Markdown),
/// and the per-scenario logs as the run goes. Called on every exit path of `ebb run`,
/// signals included, and after `ebb rollback execute`.
public struct RunReports: Sendable {
    public var reportDirectory: URL
    public var logs: ScenarioLogs

    public init(reportDirectory: URL) {
        self.reportDirectory = reportDirectory
        logs = ScenarioLogs(reportDirectory: reportDirectory)
    }

    /// Writes the reports of a finished (or interrupted) run; returns the paths written.
    public func write(_ result: RunResult) throws -> [String] {
        guard let directory = result.journalDirectory else { return [] }
        let run = try JournalReader(stateDirectory: directory.deletingLastPathComponent().deletingLastPathComponent()).run(at: directory)
        let summary = RollbackSummary(run: run, result: result, exitStatus: result.exitStatus, recoveredBy: "runner")
        return try SummaryFiles.write(summary, to: reportDirectory)
    }

    /// Writes the summary of a run recovered from its journal as `rollback-summary-<run id>.*`.
    public func write(_ report: RecoveryReport, reader: JournalReader, actor: String) throws -> [String] {
        let run = try reader.run(at: report.directory)
        let status: ExitStatus = report.isComplete ? .passed : .rollbackIncomplete
        var durations: [Int: Duration] = [:]
        for result in report.results { durations[result.record.sequence] = result.duration }
        let summary = RollbackSummary(run: run, result: nil, exitStatus: status, recoveredBy: actor, recoveryDurations: durations)
        return try SummaryFiles.write(summary, to: reportDirectory, baseName: "rollback-summary-\(report.runID)")
    }
}
