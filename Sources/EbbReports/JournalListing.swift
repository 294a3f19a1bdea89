import EbbCore
import Foundation

/// Renders the journal for `ebb rollback list`, as text for people or JSON for tools.
public enum JournalListing {
    public static func text(_ runs: [RunSnapshot]) -> String {
        guard !runs.isEmpty else { return "No runs in the journal." }
        var lines: [String] = []
        for run in runs {
            let info = run.info
            let status = run.isLive ? "live" : (info?.status.rawValue ?? "unreadable")
            let dead =
                !run.isLive && info?.status == .open
                ? " (runner gone without closing: run 'ebb rollback execute --run \(run.id)')" : ""
            lines.append("run \(run.id)  \(status)\(dead)")
            if let info {
                lines.append(
                    "  started \(UTCTime.string(info.startedAt, fractionalSeconds: false)) by pid \(info.pid) on \(info.host); suites: \(info.suites.joined(separator: ", "))"
                )
                if let by = info.recoveredBy { lines.append("  recovered by \(by)") }
                if info.guardianPID == nil && info.status == .open { lines.append("  no guardian (--no-guardian)") }
            }
            if let problem = run.problem { lines.append("  DAMAGED \(problem)") }
            for entry in run.entries {
                switch entry {
                case .record(let record, _):
                    let message = record.message.map { " - \($0)" } ?? ""
                    lines.append(
                        "  \(String(record.sequence, zeroPaddedTo: 4)) \(record.state.rawValue.padded(toWidth: 13)) \(record.scenario) / \(record.fault) [\(record.kind)] \(record.target)\(message)"
                    )
                case .damaged(let path, let problem):
                    lines.append("  DAMAGED RECORD \(path): \(problem)")
                }
            }
            for path in run.unfinishedVersions {
                lines.append(
                    "  unfinished version in \(path) (cut short by a crash, or still being written; the record's previous version stands)"
                )
            }
            for path in run.interruptedWrites {
                lines.append(
                    "  interrupted write \(path) (never renamed into place; the file it would have replaced, if any, still holds the last complete state)"
                )
            }
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ runs: [RunSnapshot]) throws -> String {
        let value: [JSONValue] = try runs.map { run in
            var object: [String: JSONValue] = [
                "id": .string(run.id),
                "directory": .string(run.directory.path),
                "live": .bool(run.isLive),
                "needsRecovery": .bool(run.needsRecovery),
                "records": .array(try run.records.map { try JSONValue(encoding: $0, with: .journal) }),
                "damaged": .array(
                    run.damaged.map { .object(["path": .string($0.path), "problem": .string($0.problem)]) }),
                "interruptedWrites": .array(run.interruptedWrites.map(JSONValue.string)),
                "unfinishedVersions": .array(run.unfinishedVersions.map(JSONValue.string)),
            ]
            if let info = run.info { object["run"] = try JSONValue(encoding: info, with: .journal) }
            if let problem = run.problem { object["problem"] = .string(problem) }
            return .object(object)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(JSONValue.array(value)), as: UTF8.self)
    }

    /// What `ebb rollback execute` prints for each run it executed.
    public static func recovery(_ report: RecoveryReport) -> String {
        var lines = ["run \(report.runID):"]
        if let refusal = report.refusal { return lines[0] + " refused: " + refusal }
        for result in report.results {
            let record = result.record
            lines.append(
                "  \(record.state.rawValue.padded(toWidth: 13)) \(record.scenario) / \(record.fault) [\(record.kind)] \(record.target)"
                    + (record.message.map { " - \($0)" } ?? ""))
            if let problem = result.journalProblem { lines.append("    \(problem)") }
        }
        for damaged in report.damaged {
            lines.append(
                "  DAMAGED RECORD \(damaged.path): \(damaged.problem) (not executed; inspect and revert by hand)")
        }
        if report.results.isEmpty && report.damaged.isEmpty { lines.append("  nothing pending") }
        return lines.joined(separator: "\n")
    }
}
