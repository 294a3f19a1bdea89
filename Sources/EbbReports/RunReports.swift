import EbbCore
import Foundation

/// Writes a run's reports into the report folder: the JUnit file, the rollback summary (JSON
/// and Markdown), the HTML report drawn from it, and the per-scenario logs as the run goes. Called on every exit path of
/// `ebb run`, signals included, and after `ebb rollback execute`.
public struct RunReports: Sendable {
    public var reportDirectory: URL
    /// The JUnit file; `<report dir>/junit.xml` unless `--junit` says otherwise.
    public var junitPath: URL
    public var junit: JUnitOptions
    public var logs: ScenarioLogs

    public init(
        reportDirectory: URL, junitPath: URL? = nil, flavor: JUnitFlavor = .portable, maxOutputBytes: Int = 64 * 1024
    ) {
        self.reportDirectory = reportDirectory
        self.junitPath = junitPath ?? reportDirectory.appending(path: "junit.xml")
        let logs = ScenarioLogs(reportDirectory: reportDirectory)
        self.logs = logs
        // CI systems resolve attachments relative to the project folder: the working directory.
        junit = JUnitOptions(flavor: flavor, maxOutputBytes: maxOutputBytes) { scenario in
            Self.displayPath(logs.path(for: scenario.name))
        }
    }

    /// Writes the reports of a finished (or interrupted) run; returns the paths written.
    /// JUnit and summary are written independently: one failing never costs the other.
    public func write(_ result: RunResult) throws -> [String] {
        // JUnit and the summary pages share nothing but the result: written side by side.
        let parts = Forks.map(2, limit: 2) { part in
            part == 0 ? writeJUnit(result) : writeSummary(result)
        }
        let written = parts.flatMap(\.written)
        let failures = parts.compactMap(\.failure)
        guard failures.isEmpty else { throw ReportFailure(written: written, problems: failures) }
        return written
    }

    private func writeJUnit(_ result: RunResult) -> (written: [String], failure: String?) {
        do {
            try FileManager.default.createDirectory(
                at: junitPath.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JUnitWriter.write(result, to: junitPath.path, options: junit)
            return ([junitPath.path], nil)
        } catch {
            return ([], "\(junitPath.path): \(error)")
        }
    }

    /// The rollback summary (JSON, Markdown) and the HTML report, when the run has a journal.
    private func writeSummary(_ result: RunResult) -> (written: [String], failure: String?) {
        guard let directory = result.journalDirectory else { return ([], nil) }
        let run =
            result.journalAtClose
            ?? JournalReader(holding: directory).run(at: directory, probingLiveness: false)
        let summary = RollbackSummary(
            run: run, result: result.redacted(by: .shared), exitStatus: result.exitStatus, recoveredBy: "runner")
        // The summary files and the HTML page share only the summary: also written side by side.
        let parts = Forks.map(2, limit: 2) { part in
            Result {
                part == 0
                    ? try SummaryFiles.write(summary, to: reportDirectory)
                    : [try HTMLReport.write(summary, to: reportDirectory.appending(path: "report.html"))]
            }
        }
        let written = parts.flatMap { (try? $0.get()) ?? [] }
        let failures = parts.compactMap { part -> String? in
            guard case .failure(let error) = part else { return nil }
            return "rollback summary: \(error)"
        }
        return (written, failures.isEmpty ? nil : failures.joined(separator: "; "))
    }

    /// Writes the reports of a run recovered from its journal: `rollback-summary-<run id>.*`,
    /// `report-<run id>.html` and `junit-<run id>.xml`, with one `rollback:` testcase per record.
    public func write(_ report: RecoveryReport, reader: JournalReader, actor: String) throws -> [String] {
        let run = reader.run(at: report.directory)
        let status: ExitStatus = report.isComplete ? .passed : .rollbackIncomplete
        var durations: [Int: Duration] = [:]
        for result in report.results { durations[result.record.sequence] = result.duration }
        let summary = RollbackSummary(
            run: run, result: nil, exitStatus: status, recoveredBy: actor, recoveryDurations: durations)
        let junitFile = reportDirectory.appending(path: "junit-\(report.runID).xml")
        try JUnitWriter.write(Self.result(of: report, run: run, actor: actor), to: junitFile.path, options: junit)
        let summaryFiles = try SummaryFiles.write(
            summary, to: reportDirectory, baseName: "rollback-summary-\(report.runID)")
        let html = try HTMLReport.write(
            summary, to: reportDirectory.appending(path: "report-\(report.runID).html"))
        return [junitFile.path] + summaryFiles + [html]
    }

    /// A recovered run as results: per scenario, a `rollback:` step for each record.
    static func result(of report: RecoveryReport, run: RunSnapshot, actor: String) -> RunResult {
        var result = RunResult(
            runID: report.runID, journalDirectory: report.directory, startedAt: run.info?.startedAt ?? Date())
        let executed = Dictionary(report.results.map { ($0.record.sequence, $0) }, uniquingKeysWith: { $1 })
        let suite =
            run.info?.suites.first.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
            ?? "recovered"
        for record in run.records.sorted(by: { $0.sequence < $1.sequence }) {
            let status = StepResult.Status(rollbackOf: record.state)
            let step = StepResult(
                kind: .rollback, name: "rollback: \(record.fault)", status: status,
                message: record.message ?? "\(record.state.rawValue) by \(record.revertedBy ?? actor)",
                startedAt: record.finishedAt ?? Date(), duration: executed[record.sequence]?.duration ?? .zero,
                properties: ["state": record.state.rawValue, "kind": record.kind, "target": record.target])
            if let index = result.scenarios.firstIndex(where: { $0.name == record.scenario }) {
                result.scenarios[index].steps.append(step)
            } else {
                var scenario = ScenarioResult(suite: suite, name: record.scenario, startedAt: record.armedAt)
                scenario.steps = [step]
                result.scenarios.append(scenario)
            }
        }
        for damaged in report.damaged {
            var scenario = ScenarioResult(suite: suite, name: "damaged journal", startedAt: Date())
            scenario.steps = [
                StepResult(
                    kind: .rollback, name: "rollback: \((damaged.path as NSString).lastPathComponent)",
                    status: .error, message: "record could not be read, so it was not executed: \(damaged.problem)")
            ]
            result.scenarios.append(scenario)
        }
        return result
    }

    /// A path relative to the working directory when it lies below it, else absolute.
    static func displayPath(_ url: URL) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let path = url.standardizedFileURL.path
        return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
    }
}

/// Some reports could not be written; `written` lists those that were.
public struct ReportFailure: Error, CustomStringConvertible {
    public var written: [String]
    public var problems: [String]
    public var description: String {
        problems.joined(separator: "; ") + (written.isEmpty ? "" : " (written: \(written.joined(separator: ", ")))")
    }
}
