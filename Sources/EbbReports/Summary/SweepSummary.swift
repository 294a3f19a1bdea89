import EbbCore
import Foundation

/// What one `ebb rollback sweep` found and did: `rollback-summary-sweep-<time>.json` (schema
/// `ebb.sweep-summary/v1`) and `.md`. Every fault the sweep reverted, failed to revert or left
/// alone (and why) is a line, so a person reading a nightly job sees what a dead job left.
public struct SweepSummary: Codable, Sendable {
    /// One fault (or leftover object) the sweep looked at.
    public struct Entry: Codable, Sendable {
        /// Where it was found: `run <id>` (a registered run), `nft` (a table without a record), ...
        public var source: String
        public var target: String
        public var kind: String
        /// `reverted`, `revert-failed`, `irreversible`, or `skipped`.
        public var state: String
        public var message: String?

        public init(source: String, target: String, kind: String, state: String, message: String?) {
            self.source = source
            self.target = target
            self.kind = kind
            self.state = state
            self.message = message
        }
    }

    public var schema = "ebb.sweep-summary/v1"
    public var sweptAt: Date
    public var host: String
    public var exitStatus: Int32
    public var entries: [Entry]

    public init(sweptAt: Date, entries: [Entry]) {
        self.sweptAt = sweptAt
        host = HostIdentity.current.description
        self.entries = entries
        let failed = entries.contains { $0.state == RecordState.revertFailed.rawValue || $0.state == "damaged" }
        exitStatus = (failed ? ExitStatus.rollbackIncomplete : .passed).rawValue
    }

    /// Entries for what the host sweep did with one registered run.
    public static func entries(of outcome: HostSweep.Outcome) -> [Entry] {
        let source = "run \(outcome.report.runID)"
        if let skipped = outcome.skipped {
            return [Entry(source: source, target: outcome.report.directory.path, kind: "run", state: "skipped", message: skipped)]
        }
        return outcome.report.results.map { result in
            Entry(source: source, target: result.record.target, kind: result.record.kind, state: result.record.state.rawValue,
                  message: [result.record.message, result.journalProblem].compactMap { $0 }.joined(separator: "; ").nonEmpty)
        } + outcome.report.damaged.map {
            Entry(source: source, target: $0.path, kind: "record", state: "damaged", message: $0.problem)
        }
    }

    public func markdown() -> String {
        let acted = entries.filter { $0.state != "skipped" }
        var lines = ["## Ebb sweep on \(host): " + (exitStatus == 0 ? "nothing left behind" : "something could not be reverted"), ""]
        lines.append("\(acted.count) fault(s) past their deadline handled, \(entries.count - acted.count) run(s) left alone.")
        if !entries.isEmpty {
            lines += ["", "| source | target | kind | state | note |", "| --- | --- | --- | --- | --- |"]
            lines += entries.map { "| \($0.source) | \(Self.cell($0.target)) | \($0.kind) | \($0.state) | \(Self.cell($0.message ?? "")) |" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes both files into `directory`; returns their paths.
    public func write(to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stamp = sweptAt.formatted(Date.ISO8601FormatStyle().year().month().day().time(includingFractionalSeconds: false))
            .replacingOccurrences(of: ":", with: "")
        let base = directory.appendingPathComponent("rollback-summary-sweep-\(stamp)")
        let encoder = JSONEncoder.journal
        try encoder.encode(self).write(to: base.appendingPathExtension("json"), options: .atomic)
        try Data(markdown().utf8).write(to: base.appendingPathExtension("md"), options: .atomic)
        return [base.appendingPathExtension("json").path, base.appendingPathExtension("md").path]
    }

    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
