import EbbCore
import EbbReports
import Foundation
import Testing

/// A run of one scenario with one reverted and one failed fault, a check that failed for a
/// while and a scraped metric, with hostile names: what a report must draw and escape.
struct TimelineFixture {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let hostile = "api <b>\"&\u{1B}[31m'"

    let directory: URL
    let summary: RollbackSummary

    init(samples: Int = 40) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-timeline-\(UUID().uuidString.prefix(8))")
        let journal = try RunJournal.create(stateDirectory: directory, suites: ["s.yaml"])
        let at = { (seconds: Double) in Self.start.addingTimeInterval(seconds) }
        var paused = UndoRecord(
            runID: journal.runID, sequence: 1, scenario: "freeze", fault: "process.pause", plugin: "process.pause",
            target: "pid 42 (\(Self.hostile))", kind: "process.resume", data: .null, state: .reverted,
            armedAt: at(0.1), deadline: at(60))
        paused.injectedAt = at(0.2)
        paused.finishedAt = at(2.2)
        paused.revertedBy = "runner"
        var stuck = UndoRecord(
            runID: journal.runID, sequence: 2, scenario: "freeze", fault: "file.corrupt", plugin: "file.corrupt",
            target: "/srv/a.conf", kind: "file.restore", data: .null, state: .revertFailed, armedAt: at(0.25),
            deadline: at(60))
        // Binary fractions: the journal keeps milliseconds, and 0.4 s would read back as 399 ms.
        stuck.injectedAt = at(0.375)
        stuck.message = "Operation not permitted"
        try RecordStore(runDirectory: journal.directory).create(paused)
        try RecordStore(runDirectory: journal.directory).create(stuck)
        try journal.close()
        let run = JournalReader(holding: journal.directory).run(at: journal.directory)

        // Samples every 50 ms from 0.2 s; those between 0.5 s and 1.5 s fail.
        let points = (0..<samples).map { index -> CheckSeries.Point in
            let time = 0.2 + Double(index) * 0.05
            let failed = time >= 0.5 && time < 1.5
            return CheckSeries.Point(at: at(time), ok: !failed, value: failed ? 0.25 : 0.002 + Double(index % 5) / 1000)
        }
        let window = DowntimeWindow(start: at(0.5), end: at(1.5), closed: true, failures: 20, seen: ["timed out x20"])
        var scenario = ScenarioResult(suite: "demo", name: "freeze", startedAt: at(0))
        scenario.duration = .seconds(2.5)
        scenario.steps = [
            StepResult(
                kind: .check, name: "check: \(Self.hostile) (during)", status: .passed, message: "40 samples",
                startedAt: at(0.2),
                windows: [window],
                series: CheckSeries(
                    unit: "s", points: points, ceilings: [.init(label: "p99", value: 0.2)],
                    rolledBackAt: at(2.2), recoveredAt: at(2.21))),
            StepResult(
                kind: .check, name: "check: \(Self.hostile) max_downtime", status: .failed,
                message: "downtime 1s in 1 window",
                measured: "1s", limit: "<= 500ms", windows: [window]),
            StepResult(
                kind: .telemetry, name: "telemetry: errors", status: .passed, message: "increased by 3",
                series: CheckSeries(
                    unit: "",
                    points: [
                        .init(at: at(0.2), ok: true, value: 10), .init(at: at(1.2), ok: true, value: 12),
                        .init(at: at(2.4), ok: true, value: 13),
                    ])),
        ]
        var result = RunResult(runID: journal.runID, journalDirectory: journal.directory, startedAt: at(0))
        result.scenarios = [scenario]
        summary = RollbackSummary(run: run, result: result, exitStatus: result.exitStatus, recoveredBy: "runner")
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

@Suite struct DownsamplerTests {
    static func series(_ count: Int, failing: (Int) -> Bool) -> [CheckSeries.Point] {
        (0..<count).map {
            CheckSeries.Point(
                at: Date(timeIntervalSince1970: Double($0) / 20), ok: !failing($0), value: Double(($0 * 7919) % 1000))
        }
    }

    @Test func shortSeriesAreKeptWhole() {
        let points = Self.series(400, failing: { $0 % 3 == 0 })
        #expect(Downsampler.downsample(points, limit: 400) == points)
    }

    @Test func longSeriesKeepEveryTransitionAndEachBucketsExtremesWithinTheLimit() {
        // An hour at 50 ms with two outages.
        let points = Self.series(72_000, failing: { (10_000..<10_040).contains($0) || (50_000..<50_001).contains($0) })
        let kept = Downsampler.downsample(points, limit: 400)
        #expect(kept.count <= 400)
        #expect(kept.map(\.at) == kept.map(\.at).sorted())
        for index in [9_999, 10_000, 10_039, 10_040, 49_999, 50_000, 50_001] {
            #expect(kept.contains(points[index]), "transition sample \(index) was dropped")
        }
        #expect(kept.first == points.first && kept.last == points.last)
        // Each bucket's extremes survive: the global maximum and minimum among them.
        let values = points.compactMap(\.value)
        #expect(kept.contains { $0.value == values.max() } && kept.contains { $0.value == values.min() })
    }

    @Test func aFlappingCheckStaysBoundedAndNoFailedBucketLooksHealthy() {
        let points = Self.series(10_000, failing: { $0 % 2 == 0 })
        let kept = Downsampler.downsample(points, limit: 400)
        #expect(kept.count <= 400)
        #expect(kept.filter { !$0.ok }.count >= 99)
    }
}

@Suite struct HTMLReportTests {
    @Test func thePageDrawsALanePerFaultCheckLatencyAndMetricAndEscapesUserText() throws {
        let fixture = try TimelineFixture()
        defer { fixture.remove() }
        let html = HTMLReport.render(fixture.summary)
        #expect(HTMLCheck.problems(in: html).isEmpty, "\(HTMLCheck.problems(in: html))")
        #expect(html.components(separatedBy: "class=\"lane lane-fault\"").count - 1 == 2)
        #expect(html.components(separatedBy: "class=\"lane lane-check\"").count - 1 == 1)
        #expect(html.components(separatedBy: "class=\"lane lane-latency\"").count - 1 == 1)
        #expect(html.components(separatedBy: "class=\"lane lane-telemetry\"").count - 1 == 1)
        #expect(html.components(separatedBy: "class=\"sample failed\"").count - 1 == 20)
        #expect(html.contains("class=\"downtime\""))
        #expect(html.contains("class=\"recovery-mark\""))
        #expect(html.contains("p99 &lt;= 200ms"))
        #expect(html.contains("reverted by runner"))
        // A failed SLO in the results (exit 1), and a revert that failed in the journal.
        #expect(html.contains("<strong>Exit 1</strong>"))
        #expect(html.contains("SYSTEM MAY BE DIRTY"))
        #expect(html.contains("<a href=\"logs/freeze.log\">scenario log</a>"))
        // User text is escaped and its ANSI escapes are gone; nothing is fetched or run.
        #expect(html.contains("api &lt;b&gt;&quot;&amp;&#39;"))
        #expect(!html.contains("\u{1B}") && !html.contains("[31m"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"))
    }

    @Test func theSummaryJSONCarriesTheTimelineAndRerendersTheSamePage() throws {
        let fixture = try TimelineFixture(samples: 1_000)
        defer { fixture.remove() }
        let json = try fixture.summary.json()
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let timeline = try #require(object["timeline"] as? [String: Any])
        #expect(timeline["schema"] as? String == "ebb.timeline/v1")
        let series = try #require(((timeline["scenarios"] as? [[String: Any]])?.first?["series"]) as? [[String: Any]])
        #expect(series.first?["totalPoints"] as? Int == 1_000)
        #expect(series.first?["downsampled"] as? Bool == true)
        #expect((series.first?["points"] as? [Any])?.count ?? 0 <= 400)
        // Existing keys stay where they were.
        #expect(object["schema"] as? String == "ebb.rollback-summary/v1")
        #expect((object["faults"] as? [Any])?.count == 2 && object["checks"] != nil && object["totals"] != nil)

        let file = fixture.directory.appendingPathComponent("rollback-summary.json")
        try json.write(to: file)
        let decoded = try HTMLReport.summary(from: file)
        // Dates keep milliseconds, so compare what is written, not the doubles.
        #expect(
            try JSONEncoder.journal.encode(decoded.timeline) == JSONEncoder.journal.encode(fixture.summary.timeline))
        let (again, first) = (HTMLReport.render(decoded), HTMLReport.render(fixture.summary))
        for mark in [
            "class=\"lane ", "class=\"sample ok\"", "class=\"sample failed\"", "class=\"downtime\"",
            "class=\"metric-point\"",
        ] {
            #expect(again.components(separatedBy: mark).count == first.components(separatedBy: mark).count, "\(mark)")
        }
        #expect(first.components(separatedBy: "class=\"sample ").count - 1 <= 400)
    }

    @Test func aSummaryWithoutTimelineStillRendersItsFaults() throws {
        let fixture = try TimelineFixture()
        defer { fixture.remove() }
        var object = try #require(try JSONSerialization.jsonObject(with: fixture.summary.json()) as? [String: Any])
        object["timeline"] = nil
        let file = fixture.directory.appendingPathComponent("old.json")
        try JSONSerialization.data(withJSONObject: object).write(to: file)
        let html = HTMLReport.render(try HTMLReport.summary(from: file))
        #expect(HTMLCheck.problems(in: html).isEmpty)
        #expect(html.components(separatedBy: "class=\"lane lane-fault\"").count - 1 == 2)
        #expect(!html.contains("class=\"lane lane-check\""))
    }

    @Test func theCheckFindsBrokenMarkup() {
        #expect(!HTMLCheck.problems(in: "<!DOCTYPE html><html><body><p>a & b</p></body></html>").isEmpty)
        #expect(!HTMLCheck.problems(in: "<!DOCTYPE html><html><body><div><p>x</div></body></html>").isEmpty)
        #expect(
            HTMLCheck.problems(
                in: "<!DOCTYPE html><html><body><svg xmlns=\"http://www.w3.org/2000/svg\"><g/></svg></body></html>"
            ).isEmpty)
    }
}

@Suite struct MermaidTimelineTests {
    /// The exact block GitHub and GitLab are given (the end-to-end tests also parse a real
    /// run's blocks with Mermaid itself when EBB_MERMAID_PYTHON is set).
    @Test func eachScenarioGetsAGanttOfItsFaultsAndDowntimeWindows() throws {
        let fixture = try TimelineFixture()
        defer { fixture.remove() }
        let markdown = fixture.summary.markdown()
        let block = """
            ```mermaid
            gantt
                title demo / freeze
                dateFormat x
                axisFormat %M:%S.%L
                section Faults
                process.pause reverted by runner :done, 1800000000200, 1800000002200
                file.corrupt revert-failed :crit, 1800000000375, 1800000002500
                section api b "&'
                down 1.000s, 20 failed :crit, 1800000000500, 1800000001500
            ```
            """
        #expect(
            markdown.contains(
                "<details open><summary>Timelines (faults and downtime windows)</summary>\n\n" + block
                    + "\n\n</details>"), "\(markdown)")
        // The tables before it are as they were.
        #expect(markdown.contains("| Scenario | Check | Result | Measured | Limit |"))
    }

    @Test func aRunWithNothingToDrawHasNoTimelineBlock() throws {
        let fixture = try TimelineFixture()
        defer { fixture.remove() }
        var summary = fixture.summary
        summary.faults = []
        summary.timeline?.scenarios[0].series = []
        #expect(!summary.markdown().contains("```mermaid"))
    }
}
