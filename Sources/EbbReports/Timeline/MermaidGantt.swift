import EbbCore
import Foundation

/// A scenario's faults and downtime windows as a Mermaid `gantt` block, which GitHub and
/// GitLab draw inside Markdown (and so inside the GitHub job summary).
///
/// Times are Unix milliseconds (`dateFormat x`). Task names lose the characters Mermaid's
/// gantt grammar treats as syntax (`:` `;` `#` and line breaks), and `<` `>` (renderers
/// treat labels as HTML), and are cut to 60 characters.
/// Each check draws at most ``maxWindows`` downtime windows; the Markdown says how many more.
enum MermaidGantt {
    static let maxWindows = 20

    static func block(_ scenario: RunTimeline.Scenario, faults: [RollbackSummary.Fault]) -> [String] {
        var lines = [
            "```mermaid", "gantt",
            "    title \(name((scenario.suite.isEmpty ? "" : scenario.suite + " / ") + scenario.name))",
            "    dateFormat x", "    axisFormat %M:%S.%L",
        ]
        if !faults.isEmpty {
            lines.append("    section Faults")
            for fault in faults {
                let start = fault.injectedAt ?? fault.armedAt
                let end = fault.revertedAt ?? max(scenario.endedAt, start)
                let who = fault.revertedBy.map { " by \($0)" } ?? ""
                let tag = fault.verified ? "done" : "crit"
                lines.append(
                    "    \(name("\(fault.fault) \(fault.state)\(who)")) :\(tag), \(millis(start)), \(millis(end, after: start))"
                )
            }
        }
        for series in scenario.series where series.kind == "check" && !series.windows.isEmpty {
            lines.append("    section \(name(series.name))")
            for window in series.windows.prefix(maxWindows) {
                let seconds = window.end.timeIntervalSince(window.start)
                lines.append(
                    "    \(name("down \(String(format: "%.3f", seconds))s, \(window.failures) failed")) :crit, \(millis(window.start)), \(millis(window.end, after: window.start))"
                )
            }
        }
        lines.append("```")
        let hidden = scenario.series.map { max(0, $0.windows.count - maxWindows) }.reduce(0, +)
        if hidden > 0 {
            lines += ["", "(\(hidden) more downtime window(s) not drawn; all are in rollback-summary.json.)"]
        }
        return lines
    }

    /// Whether the block would draw anything: a gantt without tasks is an error in Mermaid.
    static func hasTasks(_ scenario: RunTimeline.Scenario, faults: [RollbackSummary.Fault]) -> Bool {
        !faults.isEmpty || scenario.series.contains { $0.kind == "check" && !$0.windows.isEmpty }
    }

    static func millis(_ date: Date, after start: Date? = nil) -> String {
        var value = Int64((date.timeIntervalSince1970 * 1000).rounded())
        // A zero-length task draws nothing; give it one millisecond.
        if let start { value = max(value, Int64((start.timeIntervalSince1970 * 1000).rounded()) + 1) }
        return String(value)
    }

    static func name(_ text: String) -> String {
        let cleaned = TextHygiene.sanitized(text, limit: 1024).map { character -> Character in
            ":;#<>\n\r\t`".contains(character) ? " " : character
        }
        let flat = String(cleaned).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        let cut = flat.count > 60 ? String(flat.prefix(57)) + "..." : flat
        return cut.isEmpty ? "-" : cut
    }
}
