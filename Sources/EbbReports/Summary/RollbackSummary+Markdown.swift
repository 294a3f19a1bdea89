import EbbCore
import Foundation

extension RollbackSummary {
    /// The summary as GitHub-flavoured Markdown (also fine in GitLab and Jenkins renderers).
    public func markdown() -> String {
        let clean = totals.revertFailed == 0 && totals.pending == 0 && totals.damaged == 0
        var lines = [
            "## Ebb rollback summary: run `\(runID)` \(clean ? "- all faults taken back" : "- SYSTEM MAY BE DIRTY")",
            "",
            "**Exit \(exitCode)**: \(exitMeaning)" + (signal.map { " (interrupted by \($0))" } ?? ""),
            "",
            "| Faults | Reverted | Failed to revert | Irreversible | Pending | Damaged records |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            "| \(totals.faults) | \(totals.reverted) | \(totals.revertFailed) | \(totals.irreversible) | \(totals.pending) | \(totals.damaged) |",
            "",
        ]
        if !scenarios.isEmpty {
            lines += ["| Scenario | Outcome |", "| --- | --- |"]
            lines += scenarios.map { "| \(Self.cell($0.suite)) / \(Self.cell($0.name)) | \($0.outcome) |" }
            lines.append("")
        }
        if !faults.isEmpty {
            lines += [
                "| # | Scenario | Fault | Target | Undo | State | Verified | Time to recover |",
                "| ---: | --- | --- | --- | --- | --- | --- | ---: |",
            ]
            for fault in faults {
                let time = fault.timeToRecoverSeconds.map { String(format: "%.3fs", $0) } ?? "-"
                let state = fault.message.map { "\(fault.state): \(Self.cell($0))" } ?? fault.state
                lines.append(
                    "| \(fault.sequence) | \(Self.cell(fault.scenario)) | \(Self.cell(fault.fault)) | \(Self.cell(fault.target)) | `\(fault.undoKind)` | \(state) | \(fault.verified ? "yes" : "no") | \(time) |"
                )
            }
            lines.append("")
        }
        if !checks.isEmpty {
            lines += ["| Scenario | Check | Result | Measured | Limit |", "| --- | --- | --- | ---: | --- |"]
            for check in checks {
                let result = check.status == "passed" ? "passed" : "**\(check.status)**"
                lines.append(
                    "| \(Self.cell(check.scenario)) | \(Self.cell(check.name)) | \(result) | \(Self.cell(check.measured ?? "-")) | \(Self.cell(check.limit ?? "-")) |"
                )
            }
            lines.append("")
            for check in checks where check.status != "passed" && check.status != "skipped" {
                lines.append(
                    "- \(Self.cell(check.scenario)) / \(Self.cell(check.name)): \(Self.cell(check.message ?? check.status))"
                )
                lines += check.windows.map { "  - downtime \(Self.cell(DowntimeText.line($0)))" }
            }
            if checks.contains(where: { $0.status != "passed" && $0.status != "skipped" }) { lines.append("") }
        }
        let timeline = self.timeline ?? RunTimeline(result: nil, faults: faults)
        let drawn = timeline.scenarios.filter { scenario in
            MermaidGantt.hasTasks(scenario, faults: faults.filter { $0.scenario == scenario.name })
        }
        if !drawn.isEmpty {
            lines += ["<details open><summary>Timelines (faults and downtime windows)</summary>", ""]
            for scenario in drawn {
                lines += MermaidGantt.block(scenario, faults: faults.filter { $0.scenario == scenario.name }) + [""]
            }
            lines += ["</details>", ""]
        }
        for problem in damaged { lines.append("- DAMAGED: \(Self.cell(problem))") }
        if let recoveredBy {
            lines.append("Recovered by `\(recoveredBy)`; journal `\(journal)`.")
        } else {
            lines.append("Journal: `\(journal)`.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A table cell: one line, pipes escaped, at most 200 characters.
    static func cell(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "|", with: "\\|")
        return flat.count > 200 ? String(flat.prefix(197)) + "..." : flat
    }
}
