import EbbCore
import Foundation

/// The run as one self-contained HTML page (`report.html`): inline CSS and SVG, no scripts and
/// nothing fetched, so it opens from a CI artifact as it is. A pure function of the summary, so
/// that `ebb run`, the guardian and `ebb report html --from` draw the same page.
public enum HTMLReport {
    /// The page for `summary`; logs are linked as `logs/<scenario>.log` beside the page.
    public static func render(_ summary: RollbackSummary) -> String {
        let clean = summary.totals.revertFailed == 0 && summary.totals.pending == 0 && summary.totals.damaged == 0
        let verdict =
            summary.exitCode == 0 ? "passed" : clean ? "failed, every fault taken back" : "failed, SYSTEM MAY BE DIRTY"
        var html = [
            "<!DOCTYPE html>",
            "<html lang=\"en\">",
            "<head>",
            "<meta charset=\"utf-8\"/>",
            "<title>Ebb report: run \(HTMLText.escape(summary.runID))</title>",
            "<style>\(style)</style>",
            "</head>",
            "<body>",
            "<header class=\"\(summary.exitCode == 0 ? "pass" : clean ? "fail" : "dirty")\">",
            "<h1>Ebb run <code>\(HTMLText.escape(summary.runID))</code>: \(HTMLText.escape(verdict))</h1>",
            "<p id=\"exit\"><strong>Exit \(summary.exitCode)</strong>: \(HTMLText.escape(summary.exitMeaning))\(summary.signal.map { " (interrupted by \(HTMLText.escape($0)))" } ?? "")</p>",
            "<p class=\"muted\">\(facts(summary))</p>",
            "</header>",
        ]
        html += totals(summary)
        html += rollbackTable(summary)
        let timeline = summary.timeline ?? RunTimeline(result: nil, faults: summary.faults)
        for scenario in timeline.scenarios {
            html += section(scenario, summary: summary)
        }
        if let timeline = summary.timeline,
            timeline.scenarios.contains(where: { $0.series.contains(where: \.downsampled) })
        {
            html.append(
                "<p class=\"muted\">Series of more than \(timeline.maxPointsPerSeries) samples are downsampled: every health transition and each bucket's lowest and highest value are kept (docs/reference.md, \"The timeline section\").</p>"
            )
        }
        for problem in summary.damaged { html.append("<p class=\"bad-text\">DAMAGED: \(HTMLText.escape(problem))</p>") }
        html += ["</body>", "</html>"]
        return html.joined(separator: "\n") + "\n"
    }

    private static func facts(_ summary: RollbackSummary) -> String {
        var facts: [String] = []
        if let host = summary.host { facts.append("host \(HTMLText.escape(host))") }
        if let started = summary.startedAt { facts.append("started \(HTMLText.time(started))") }
        facts.append("written \(HTMLText.time(summary.writtenAt))")
        if let by = summary.recoveredBy { facts.append("faults taken back by \(HTMLText.escape(by))") }
        facts.append("journal <code>\(HTMLText.escape(summary.journal))</code>")
        return facts.joined(separator: " · ")
    }

    private static func totals(_ summary: RollbackSummary) -> [String] {
        let t = summary.totals
        return [
            "<table class=\"totals\"><tr><th>Faults</th><th>Reverted</th><th>Failed to revert</th><th>Irreversible</th><th>Pending</th><th>Damaged records</th></tr>",
            "<tr><td>\(t.faults)</td><td>\(t.reverted)</td><td class=\"\(t.revertFailed > 0 ? "bad" : "")\">\(t.revertFailed)</td><td>\(t.irreversible)</td><td class=\"\(t.pending > 0 ? "bad" : "")\">\(t.pending)</td><td class=\"\(t.damaged > 0 ? "bad" : "")\">\(t.damaged)</td></tr></table>",
        ]
    }

    private static func rollbackTable(_ summary: RollbackSummary) -> [String] {
        guard !summary.faults.isEmpty else { return [] }
        var rows = [
            "<h2>Rollback</h2>",
            "<table id=\"rollback\"><tr><th>#</th><th>Scenario</th><th>Fault</th><th>Target</th><th>Undo</th><th>State</th><th>Verified</th><th>Reverted by</th><th>Time to recover</th></tr>",
        ]
        for fault in summary.faults {
            let state = fault.message.map { "\(fault.state): \($0)" } ?? fault.state
            rows.append(
                "<tr class=\"\(fault.verified ? "" : "bad")\"><td>\(fault.sequence)</td><td>\(HTMLText.escape(fault.scenario))</td><td>\(HTMLText.escape(fault.fault))</td><td>\(HTMLText.escape(fault.target))</td><td><code>\(HTMLText.escape(fault.undoKind))</code></td><td>\(HTMLText.escape(state))</td><td>\(fault.verified ? "yes" : "no")</td><td>\(HTMLText.escape(fault.revertedBy ?? "-"))</td><td>\(fault.timeToRecoverSeconds.map { HTMLText.seconds($0) } ?? "-")</td></tr>"
            )
        }
        rows.append("</table>")
        return rows
    }

    private static func section(_ scenario: RunTimeline.Scenario, summary: RollbackSummary) -> [String] {
        let outcome = summary.scenarios.first {
            $0.name == scenario.name && ($0.suite == scenario.suite || scenario.suite.isEmpty)
        }?.outcome
        let faults = summary.faults.filter { $0.scenario == scenario.name }
        let checks = summary.checks.filter {
            $0.scenario == scenario.name && ($0.suite == scenario.suite || scenario.suite.isEmpty)
        }
        let title = (scenario.suite.isEmpty ? "" : scenario.suite + " / ") + scenario.name
        let log = "logs/" + ScenarioLogs.fileName(scenario.name)
        var html = [
            "<section class=\"scenario\" data-scenario=\"\(HTMLText.escape(scenario.name))\">",
            "<h2>\(HTMLText.escape(title)) <span class=\"outcome \(HTMLText.escape(outcome ?? "unknown"))\">\(HTMLText.escape(outcome ?? "recovered"))</span></h2>",
            "<p class=\"muted\">\(HTMLText.time(scenario.startedAt)) · \(HTMLText.seconds(scenario.endedAt.timeIntervalSince(scenario.startedAt))) · <a href=\"\(HTMLText.escape(log))\">scenario log</a></p>",
            TimelineSVG(scenario: scenario, faults: faults).render(),
            legend,
        ]
        if !checks.isEmpty {
            html.append(
                "<table class=\"checks\"><tr><th>Check</th><th>Result</th><th>Measured</th><th>Limit</th><th>Message</th></tr>"
            )
            for check in checks {
                html.append(
                    "<tr class=\"\(check.status == "passed" || check.status == "skipped" ? "" : "bad")\"><td>\(HTMLText.escape(check.name))</td><td>\(HTMLText.escape(check.status))</td><td>\(HTMLText.escape(check.measured ?? "-"))</td><td>\(HTMLText.escape(check.limit ?? "-"))</td><td>\(HTMLText.escape(check.message ?? "", limit: 600))</td></tr>"
                )
            }
            html.append("</table>")
        }
        html.append("</section>")
        return html
    }

    private static let legend = """
        <p class="legend"><span class="key armed"></span>armed <span class="key injected"></span>injected <span class="key reverted"></span>reverted (verified) <span class="key revert-failed"></span>not verified <span class="key ok"></span>healthy sample <span class="key failed"></span>failed sample <span class="key downtime"></span>downtime <span class="key recovery"></span>recovered <span class="key ceiling"></span>SLO ceiling</p>
        """

    private static let style = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 24px 40px;color:#1e293b;background:#fff}
        header{margin:0 -24px 16px;padding:12px 24px;border-bottom:4px solid #16a34a;background:#f0fdf4}
        header.fail{border-color:#d97706;background:#fffbeb} header.dirty{border-color:#dc2626;background:#fef2f2}
        h1{font-size:20px;margin:4px 0} h2{font-size:16px;margin:24px 0 4px}
        table{border-collapse:collapse;margin:8px 0} th,td{border:1px solid #cbd5e1;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#f1f5f9} tr.bad td,td.bad{background:#fee2e2}
        .muted{color:#64748b} .bad-text{fill:#b91c1c;color:#b91c1c}
        .outcome{font-size:12px;padding:1px 8px;border-radius:8px;background:#e2e8f0}
        .outcome.passed{background:#bbf7d0} .outcome.failed,.outcome.rollback-failed{background:#fecaca} .outcome.inconclusive,.outcome.interrupted{background:#fde68a}
        svg.timeline{display:block;border:1px solid #e2e8f0;background:#fff;font-size:11px}
        svg text{fill:#334155} svg .lane-label{font-weight:600} svg tspan.muted{fill:#64748b;font-weight:400}
        .grid{stroke:#eef2f7} .armed{fill:#cbd5e1} .injected{fill:#f59e0b}
        .reverted{fill:#16a34a} .revert-failed{fill:#dc2626}
        .sample.ok{fill:#16a34a} .sample.failed{fill:#dc2626} .downtime{fill:#fecaca}
        .rollback-mark{stroke:#475569;stroke-dasharray:3 2} .recovery-mark{stroke:#2563eb;stroke-width:2}
        .recovery-text{fill:#1d4ed8} .mark-text{fill:#166534}
        .panel{fill:#f8fafc;stroke:#e2e8f0} .latency-line{fill:none;stroke:#7c3aed;stroke-width:1.5}
        .ceiling{stroke:#dc2626;stroke-dasharray:6 3} .ceiling-text{fill:#b91c1c}
        .metric-line{fill:none;stroke:#0891b2;stroke-width:1.5} .metric-point{fill:#0891b2}
        .legend .key{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
        .key.armed{background:#cbd5e1} .key.injected{background:#f59e0b} .key.reverted,.key.ok{background:#16a34a}
        .key.revert-failed,.key.failed{background:#dc2626} .key.downtime{background:#fecaca} .key.recovery{background:#2563eb} .key.ceiling{border-top:2px dashed #dc2626;height:0}
        """
}
