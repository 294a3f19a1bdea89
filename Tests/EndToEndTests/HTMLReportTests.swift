import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// The HTML report and the Markdown timelines of real runs, read by real parsers: Debian's
/// chromium (screenshot and DOM), libxml2 (xmllint) and Mermaid's own JavaScript (mermaidx).
@Suite(.serialized, .ownThread) struct HTMLReportTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
        .standardized

    /// Scenarios/demo.yaml as shipped, on a free port and with its own copy of demo-files, so
    /// that it never meets another run of the demo on this machine.
    static func demoWorkspace() throws -> (Workspace, String) {
        let workspace = try Workspace()
        let port = try freePort()
        let text = try String(contentsOf: repository.appendingPathComponent("Scenarios/demo.yaml"), encoding: .utf8)
        try FileManager.default.copyItem(
            at: repository.appendingPathComponent("Scenarios/demo-files"),
            to: workspace.url.appendingPathComponent("demo-files"))
        return (
            workspace,
            try workspace.write(suite: text.replacingOccurrences(of: "39471", with: String(port)), name: "demo.yaml")
        )
    }

    /// Problems libxml2 finds: as XML (the page is polyglot XHTML) and with its HTML parser,
    /// whose HTML 4 vocabulary calls svg, header and section "invalid" (not counted).
    static func wellFormednessProblems(_ page: URL, in directory: URL) throws -> [String] {
        var problems: [String] = []
        for mode in [["--noout"], ["--html", "--noout"]] {
            let log = directory.appendingPathComponent("xmllint-\(UUID().uuidString.prefix(6)).log").path
            let pid = try ChildProcess.spawn(
                ["xmllint"] + mode + [page.path], directory: directory.path, outputPath: log)
            _ = ChildProcess.wait(pid, timeout: .seconds(60))
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init)
            problems += lines.filter {
                $0.contains("parser error") && !($0.contains("Tag ") && $0.hasSuffix(" invalid"))
            }.map { "\(mode): \($0)" }
        }
        return problems
    }

    static func count(_ text: String, _ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// A finished run and its report page; each run is made once and read by several tests.
    struct Recorded: @unchecked Sendable {
        var workspace: Workspace
        var status: Int32
        var output: String
        var page: URL { workspace.url.appendingPathComponent("reports/report.html") }
        var html: String { (try? String(contentsOf: page, encoding: .utf8)) ?? "" }
    }

    static let demo = Result { () throws -> Recorded in
        let (workspace, suite) = try demoWorkspace()
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        return Recorded(workspace: workspace.removedAtExit(), status: run.status, output: run.stdout + run.stderr)
    }

    /// A one-second pause against a 300 ms downtime SLO: exit 1, with a downtime window.
    static let failing = Result { () throws -> Recorded in
        let workspace = try Workspace()
        let port = try freePort()
        let suite = try workspace.write(
            suite: CheckTests.demoSuite(
                port: port,
                checks: """
                      - name: api
                        http: { url: "http://127.0.0.1:\(port)/healthz", timeout: 200ms }
                        interval: 50ms
                        slo: { max_downtime: 300ms, recover_within: 2s, latency_p99: 100ms }
                    """))
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        return Recorded(workspace: workspace.removedAtExit(), status: run.status, output: run.stdout + run.stderr)
    }

    static let xmllint = FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint")

    @Test(.enabled(if: xmllint, "needs xmllint (libxml2-utils; ci/test.sh installs it)"))
    func theDemoReportHasALanePerFaultCheckLatencyAndMetric() throws {
        let run = try Self.demo.get()
        #expect(run.status == 0, "\(run.output)")
        let html = run.html
        #expect(try Self.wellFormednessProblems(run.page, in: run.workspace.url) == [])
        // Six scenarios; eight faults; demo-health sampled and demo-errors scraped in each.
        #expect(Self.count(html, "<section class=\"scenario\"") == 6)
        #expect(Self.count(html, "class=\"lane lane-fault\"") == 8)
        #expect(Self.count(html, "data-lane=\"check: demo-health\"") == 6)
        #expect(Self.count(html, "data-lane=\"latency: demo-health\"") == 6)
        #expect(Self.count(html, "data-lane=\"telemetry: demo-errors\"") == 6)
        #expect(html.contains("p50 &lt;= 200ms"))
        #expect(html.contains("<strong>Exit 0</strong>"))
        #expect(html.contains("<a href=\"logs/pause-service.log\">scenario log</a>"))
        #expect(
            FileManager.default.fileExists(
                atPath: run.workspace.url.appendingPathComponent("reports/logs/pause-service.log").path))

        // Re-rendered from the summary alone, the page draws the same lanes.
        let again = run.workspace.url.appendingPathComponent("again.html")
        let rerender = try EbbRun.run(
            ["report", "html", "--from", "reports/rollback-summary.json", "--output", again.path], in: run.workspace.url
        )
        #expect(rerender.status == 0, "\(rerender.stderr)")
        let redrawn = try String(contentsOf: again, encoding: .utf8)
        #expect(Self.count(redrawn, "class=\"lane ") == Self.count(html, "class=\"lane "))
        #expect(Self.count(redrawn, "class=\"sample ") == Self.count(html, "class=\"sample "))
    }

    @Test(.enabled(if: Browser.installed, "chromium is not installed (ci/test.sh installs it)"))
    func theDemoReportRendersInAHeadlessBrowser() throws {
        let run = try Self.demo.get()
        let dom = try Browser.dom(of: run.page, in: run.workspace.url)
        #expect(Self.count(dom, "class=\"lane lane-fault\"") == 8, "the browser's DOM lost fault lanes")
        #expect(Self.count(dom, "class=\"lane lane-check\"") == 6)
        #expect(Self.count(dom, "class=\"lane lane-telemetry\"") == 6)
        // Every sample mark the page holds, the browser's DOM holds too.
        #expect(Self.count(dom, "class=\"sample ok\"") == Self.count(run.html, "class=\"sample ok\""))
        #expect(Self.count(dom, "class=\"sample ok\"") > 30)
        let stats = try Browser.screenshot(
            of: run.page, to: run.workspace.url.appendingPathComponent("demo.png"), in: run.workspace.url)
        #expect(stats.width == 1200)
        #expect(stats.colours >= 16, "a blank or flat screenshot: \(stats)")
        #expect(Double(stats.foreground) / Double(stats.width * stats.height) > 0.02, "\(stats)")
    }

    @Test(.enabled(if: xmllint, "needs xmllint (libxml2-utils; ci/test.sh installs it)"))
    func aFailingRunShowsItsDowntimeAndATimelineInTheMarkdown() throws {
        let run = try Self.failing.get()
        #expect(run.status == 1, "\(run.output)")
        let html = run.html
        #expect(try Self.wellFormednessProblems(run.page, in: run.workspace.url) == [])
        #expect(html.contains("<strong>Exit 1</strong>"))
        #expect(Self.count(html, "class=\"downtime\"") >= 1)
        #expect(Self.count(html, "class=\"sample failed\"") >= 5)
        #expect(html.contains("class=\"recovery-mark\""))
        #expect(html.contains("<td>check: api max_downtime</td><td>failed</td>"))
        let markdown = try String(
            contentsOf: run.workspace.url.appendingPathComponent("reports/rollback-summary.md"), encoding: .utf8)
        #expect(markdown.contains("```mermaid\ngantt\n    title checks / pause\n    dateFormat x\n"))
        #expect(markdown.contains("    section Faults\n    process.pause reverted by runner :done, "))
        #expect(markdown.contains("    section api\n    down "))
    }

    @Test func reportHTMLNamesItsPageAfterTheSummaryAndRefusesWhatIsNotOne() throws {
        let run = try Self.failing.get()
        let reports = run.workspace.url.appendingPathComponent("reports")
        try FileManager.default.copyItem(
            at: reports.appendingPathComponent("rollback-summary.json"),
            to: reports.appendingPathComponent("rollback-summary-abc123.json"))
        let named = try EbbRun.run(
            ["report", "html", "--from", "reports/rollback-summary-abc123.json"], in: run.workspace.url)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stdout.hasSuffix("reports/report-abc123.html\n"), "\(named.stdout)")
        let page = try String(contentsOf: reports.appendingPathComponent("report-abc123.html"), encoding: .utf8)
        #expect(Self.count(page, "class=\"lane ") == Self.count(run.html, "class=\"lane "))
        let refused = try EbbRun.run(["report", "html", "--from", "reports/junit.xml"], in: run.workspace.url)
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("cannot read reports/junit.xml as an Ebb rollback summary"))
    }

    @Test(.enabled(if: Browser.installed, "chromium is not installed (ci/test.sh installs it)"))
    func aFailingRunsReportShowsRedInAHeadlessBrowser() throws {
        let run = try Self.failing.get()
        let dom = try Browser.dom(of: run.page, in: run.workspace.url)
        #expect(Self.count(dom, "class=\"lane lane-check\"") == 1)
        #expect(Self.count(dom, "class=\"sample failed\"") >= 5)
        let stats = try Browser.screenshot(
            of: run.page, to: run.workspace.url.appendingPathComponent("failing.png"), height: 900,
            in: run.workspace.url)
        #expect(stats.colours >= 16, "\(stats)")
        #expect(stats.red > 50, "failed samples and downtime should show red: \(stats)")
    }

    /// Mermaid's own parser and layout (mermaid.js in QuickJS, via mermaidx from PyPI).
    @Test(
        .enabled(
            if: !(ProcessInfo.processInfo.environment["EBB_MERMAID_PYTHON"] ?? "").isEmpty,
            "EBB_MERMAID_PYTHON is not set (ci/test.sh sets it to a Python with mermaidx)"))
    func theMarkdownTimelinesParseWithMermaid() throws {
        let run = try Self.failing.get()
        let python = try #require(ProcessInfo.processInfo.environment["EBB_MERMAID_PYTHON"])
        let log = run.workspace.url.appendingPathComponent("mermaid.log").path
        let pid = try ChildProcess.spawn(
            [
                python, Self.repository.appendingPathComponent("ci/mermaid-check.py").path,
                "reports/rollback-summary.md",
            ],
            directory: run.workspace.url.path, outputPath: log)
        #expect(
            ChildProcess.wait(pid, timeout: .seconds(300)) == 0,
            "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}
