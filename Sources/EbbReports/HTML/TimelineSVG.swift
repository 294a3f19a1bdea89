import EbbCore
import Foundation

/// Draws one scenario as an inline SVG timeline: one lane per fault (armed, injected,
/// reverted, by whom), one lane per check (each sample a mark, failures red, downtime shaded,
/// rollback and recovery marked), a latency panel with the SLO ceilings, and one lane per
/// scraped metric. Every lane is a `<g class="lane lane-...">` with a `data-lane` naming it, so
/// tests (and people with devtools) can find them.
struct TimelineSVG {
    var scenario: RunTimeline.Scenario
    var faults: [RollbackSummary.Fault]

    static let width = 1100.0
    static let plotLeft = 230.0
    static let plotRight = 1080.0
    static let laneHeight = 30.0
    static let latencyHeight = 90.0
    static let telemetryHeight = 60.0

    /// The time span drawn: the scenario, widened to whatever a fault or sample lies outside it.
    var span: (start: Date, end: Date) {
        var dates = [scenario.startedAt, scenario.endedAt]
        for fault in faults { dates += [fault.armedAt, fault.injectedAt, fault.revertedAt].compactMap { $0 } }
        for series in scenario.series {
            dates += series.points.map(\.at) + [series.rolledBackAt, series.recoveredAt].compactMap { $0 }
            dates += series.windows.flatMap { [$0.start, $0.end] }
        }
        let start = dates.min() ?? scenario.startedAt
        let end = dates.max() ?? scenario.endedAt
        return (start, end.timeIntervalSince(start) < 0.001 ? start.addingTimeInterval(1) : end)
    }

    func render() -> String {
        let (start, end) = span
        let seconds = end.timeIntervalSince(start)
        func x(_ date: Date) -> Double {
            Self.plotLeft + max(0, min(1, date.timeIntervalSince(start) / seconds)) * (Self.plotRight - Self.plotLeft)
        }
        var body: [String] = []
        var y = 34.0
        for fault in faults {
            body.append(faultLane(fault, y: y, x: x, end: end))
            y += Self.laneHeight
        }
        for series in scenario.series where series.kind == "check" {
            body.append(checkLane(series, y: y, x: x))
            y += Self.laneHeight
            if series.unit == "s", series.points.contains(where: { $0.value != nil }) {
                body.append(latencyPanel(series, y: y, x: x))
                y += Self.latencyHeight
            }
        }
        for series in scenario.series where series.kind == "telemetry" {
            body.append(telemetryLane(series, y: y, x: x))
            y += Self.telemetryHeight
        }
        if faults.isEmpty && scenario.series.isEmpty {
            body.append(
                "<text x=\"\(Self.plotLeft)\" y=\"\(y + 18)\" class=\"muted\">no fault was armed and no check sampled in this scenario</text>"
            )
            y += Self.laneHeight
        }
        let height = y + 8
        let axis = self.axis(seconds: seconds, height: height, x: { x(start.addingTimeInterval($0)) })
        let title = HTMLText.escape("\(scenario.suite.isEmpty ? "" : scenario.suite + " / ")\(scenario.name)")
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="\(HTMLText.number(Self.width))" height="\(HTMLText.number(height))" viewBox="0 0 \(HTMLText.number(Self.width)) \(HTMLText.number(height))" role="img" aria-label="timeline of \(title)">
            \(axis)
            \(body.joined(separator: "\n"))
            </svg>
            """
    }

    /// Ticks every 1, 2 or 5 times a power of ten seconds: at most about ten of them.
    private func axis(seconds: Double, height: Double, x: (Double) -> Double) -> String {
        let raw = seconds / 10
        let power = pow(10, floor(log10(max(raw, 0.001))))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        var lines = ["<g class=\"axis\">"]
        var tick = 0.0
        while tick <= seconds + step / 1000 {
            let position = HTMLText.number(x(tick))
            lines.append(
                "<line x1=\"\(position)\" y1=\"24\" x2=\"\(position)\" y2=\"\(HTMLText.number(height - 4))\" class=\"grid\"/>"
            )
            lines.append("<text x=\"\(position)\" y=\"18\" text-anchor=\"middle\">+\(HTMLText.seconds(tick))</text>")
            tick += step
        }
        lines.append("</g>")
        return lines.joined(separator: "\n")
    }

    private func label(_ text: String, y: Double, detail: String? = nil) -> String {
        let name = HTMLText.escape(String(text.prefix(34)))
        let sub =
            detail.map { "<tspan x=\"8\" dy=\"11\" class=\"muted\">\(HTMLText.escape(String($0.prefix(40))))</tspan>" }
            ?? ""
        return
            "<text x=\"8\" y=\"\(HTMLText.number(y + (detail == nil ? 19 : 13)))\" class=\"lane-label\">\(name)\(sub)</text>"
    }

    private func faultLane(_ fault: RollbackSummary.Fault, y: Double, x: (Date) -> Double, end: Date) -> String {
        var parts = [label(fault.fault, y: y, detail: fault.target)]
        let top = HTMLText.number(y + 7)
        let armedEnd = fault.injectedAt ?? fault.revertedAt ?? end
        parts.append(
            bar(
                from: x(fault.armedAt), to: x(armedEnd), top: top, height: 16, cssClass: "armed",
                title: "armed \(HTMLText.time(fault.armedAt))"))
        if let injected = fault.injectedAt {
            parts.append(
                bar(
                    from: x(injected), to: x(fault.revertedAt ?? end), top: top, height: 16, cssClass: "injected",
                    title: "injected \(HTMLText.time(injected)) on \(fault.target)"))
        }
        let who = fault.revertedBy.map { " by \($0)" } ?? ""
        if let reverted = fault.revertedAt {
            let at = x(reverted)
            let mark = fault.verified ? "reverted" : "revert-failed"
            parts.append(
                "<path d=\"M\(HTMLText.number(at)) \(HTMLText.number(y + 4)) l5 11 l-5 11 l-5 -11 z\" class=\"\(mark)\"><title>\(HTMLText.escape("\(fault.state)\(who) at \(HTMLText.time(reverted))"))</title></path>"
            )
            parts.append(sideText("\(fault.state)\(who)", at: at, y: y + 19, cssClass: "mark-text"))
        } else {
            let text = fault.message.map { "\(fault.state): \($0)" } ?? fault.state
            parts.append(sideText(text, at: x(end), y: y + 19, cssClass: "bad-text"))
        }
        return
            "<g class=\"lane lane-fault\" data-lane=\"\(HTMLText.escape("fault: \(fault.fault)"))\" data-state=\"\(HTMLText.escape(fault.state))\">\n\(parts.joined(separator: "\n"))\n</g>"
    }

    private func checkLane(_ series: RunTimeline.Series, y: Double, x: (Date) -> Double) -> String {
        let failed = series.points.filter { !$0.ok }.count
        var parts = [
            label(
                series.name, y: y,
                detail: "\(series.totalPoints) samples\(series.downsampled ? " (\(series.points.count) drawn)" : "")")
        ]
        for window in series.windows {
            let width = max(1.5, x(window.end) - x(window.start))
            parts.append(
                "<rect x=\"\(HTMLText.number(x(window.start)))\" y=\"\(HTMLText.number(y + 2))\" width=\"\(HTMLText.number(width))\" height=\"26\" class=\"downtime\"><title>\(HTMLText.escape("downtime \(HTMLText.seconds(window.end.timeIntervalSince(window.start))), \(window.failures) failed: \(window.seen.joined(separator: ", "))"))</title></rect>"
            )
        }
        for point in series.points {
            let value = point.value.map { " " + HTMLText.seconds($0) } ?? ""
            parts.append(
                "<rect x=\"\(HTMLText.number(x(point.at) - 1))\" y=\"\(HTMLText.number(y + 8))\" width=\"2\" height=\"14\" class=\"sample \(point.ok ? "ok" : "failed")\"><title>\(HTMLText.time(point.at))\(point.ok ? "" : " failed")\(value)</title></rect>"
            )
        }
        parts += marks(series, top: y + 2, bottom: y + 28, x: x)
        return
            "<g class=\"lane lane-check\" data-lane=\"\(HTMLText.escape("check: \(series.name)"))\" data-failed=\"\(failed)\">\n\(parts.joined(separator: "\n"))\n</g>"
    }

    private func marks(_ series: RunTimeline.Series, top: Double, bottom: Double, x: (Date) -> Double) -> [String] {
        var parts: [String] = []
        if let rolledBack = series.rolledBackAt {
            let at = HTMLText.number(x(rolledBack))
            parts.append(
                "<line x1=\"\(at)\" y1=\"\(HTMLText.number(top))\" x2=\"\(at)\" y2=\"\(HTMLText.number(bottom))\" class=\"rollback-mark\"><title>rolled back \(HTMLText.time(rolledBack))</title></line>"
            )
        }
        if let recovered = series.recoveredAt {
            let at = x(recovered)
            let after =
                series.rolledBackAt.map {
                    " " + HTMLText.seconds(max(0, recovered.timeIntervalSince($0))) + " after rollback"
                } ?? ""
            parts.append(
                "<line x1=\"\(HTMLText.number(at))\" y1=\"\(HTMLText.number(top))\" x2=\"\(HTMLText.number(at))\" y2=\"\(HTMLText.number(bottom))\" class=\"recovery-mark\"><title>healthy again\(after)</title></line>"
            )
            parts.append(sideText("recovered\(after)", at: at, y: top + 9, cssClass: "recovery-text"))
        }
        return parts
    }

    private func latencyPanel(_ series: RunTimeline.Series, y: Double, x: (Date) -> Double) -> String {
        let values = series.points.compactMap(\.value)
        let top = (([values.max() ?? 0] + series.ceilings.map(\.value)).max() ?? 0) * 1.15
        let scale = top > 0 ? top : 1
        let bottom = y + Self.latencyHeight - 8
        func yOf(_ value: Double) -> Double { bottom - min(1, value / scale) * (Self.latencyHeight - 16) }
        var parts = [label("latency", y: y, detail: "\(series.name), max \(HTMLText.seconds(values.max() ?? 0))")]
        parts.append(
            "<rect x=\"\(HTMLText.number(Self.plotLeft))\" y=\"\(HTMLText.number(y + 8))\" width=\"\(HTMLText.number(Self.plotRight - Self.plotLeft))\" height=\"\(HTMLText.number(Self.latencyHeight - 16))\" class=\"panel\"/>"
        )
        let line = series.points.compactMap { point in
            point.value.map { "\(HTMLText.number(x(point.at))),\(HTMLText.number(yOf($0)))" }
        }
        parts.append("<polyline points=\"\(line.joined(separator: " "))\" class=\"latency-line\"/>")
        for ceiling in series.ceilings {
            let at = HTMLText.number(yOf(ceiling.value))
            parts.append(
                "<line x1=\"\(HTMLText.number(Self.plotLeft))\" y1=\"\(at)\" x2=\"\(HTMLText.number(Self.plotRight))\" y2=\"\(at)\" class=\"ceiling\"/>"
            )
            parts.append(
                "<text x=\"\(HTMLText.number(Self.plotRight - 4))\" y=\"\(HTMLText.number(yOf(ceiling.value) - 3))\" text-anchor=\"end\" class=\"ceiling-text\">\(HTMLText.escape("\(ceiling.label) <= \(HTMLText.seconds(ceiling.value))"))</text>"
            )
        }
        parts += marks(series, top: y + 8, bottom: bottom, x: x).filter { !$0.hasPrefix("<text") }
        return
            "<g class=\"lane lane-latency\" data-lane=\"\(HTMLText.escape("latency: \(series.name)"))\">\n\(parts.joined(separator: "\n"))\n</g>"
    }

    private func telemetryLane(_ series: RunTimeline.Series, y: Double, x: (Date) -> Double) -> String {
        let values = series.points.compactMap(\.value)
        let low = values.min() ?? 0
        let high = values.max() ?? 0
        let range = high - low > 0 ? high - low : 1
        let bottom = y + Self.telemetryHeight - 10
        func yOf(_ value: Double) -> Double { bottom - (value - low) / range * (Self.telemetryHeight - 22) }
        let detail =
            values.isEmpty
            ? "no scrape"
            : "\(HTMLText.value(values.first ?? 0)) -> \(HTMLText.value(values.last ?? 0)) in \(series.totalPoints) scrapes"
        var parts = [label(series.name, y: y, detail: detail)]
        parts.append(
            "<rect x=\"\(HTMLText.number(Self.plotLeft))\" y=\"\(HTMLText.number(y + 6))\" width=\"\(HTMLText.number(Self.plotRight - Self.plotLeft))\" height=\"\(HTMLText.number(Self.telemetryHeight - 12))\" class=\"panel\"/>"
        )
        let line = series.points.compactMap { point in
            point.value.map { "\(HTMLText.number(x(point.at))),\(HTMLText.number(yOf($0)))" }
        }
        parts.append("<polyline points=\"\(line.joined(separator: " "))\" class=\"metric-line\"/>")
        for point in series.points {
            guard let value = point.value else { continue }
            parts.append(
                "<circle cx=\"\(HTMLText.number(x(point.at)))\" cy=\"\(HTMLText.number(yOf(value)))\" r=\"2.5\" class=\"metric-point\"><title>\(HTMLText.time(point.at)): \(HTMLText.value(value))</title></circle>"
            )
        }
        return
            "<g class=\"lane lane-telemetry\" data-lane=\"\(HTMLText.escape("telemetry: \(series.name)"))\">\n\(parts.joined(separator: "\n"))\n</g>"
    }

    private func bar(
        from start: Double, to end: Double, top: String, height: Int, cssClass: String, title: String
    ) -> String {
        "<rect x=\"\(HTMLText.number(start))\" y=\"\(top)\" width=\"\(HTMLText.number(max(1.5, end - start)))\" height=\"\(height)\" class=\"\(cssClass)\"><title>\(HTMLText.escape(title))</title></rect>"
    }

    /// Text beside a mark: to its right, or to its left near the right edge.
    private func sideText(_ text: String, at: Double, y: Double, cssClass: String) -> String {
        let left = at > Self.plotRight - 220
        return
            "<text x=\"\(HTMLText.number(left ? at - 8 : at + 8))\" y=\"\(HTMLText.number(y))\" text-anchor=\"\(left ? "end" : "start")\" class=\"\(cssClass)\">\(HTMLText.escape(String(text.prefix(80))))</text>"
    }
}
