import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// Telemetry against real servers: Ebb's demo target for direct scrapes, and Debian's
/// Prometheus and Pushgateway started by the test on 127.0.0.1 and stopped by pid.
@Suite(.serialized, .ownThread) struct TelemetryTests {
    /// A suite whose only fault runs `command` (e.g. requests that make the demo count errors).
    static func suite(telemetry: String, command: String = "true", hold: String = "1s") -> String {
        """
        suite: telemetry
        \(telemetry)
        scenarios:
          - name: window
            duration: \(hold)
            faults:
              - command: { inject: [sh, -c, "\(command)"], rollback: [true] }
        """
    }

    @Test func aDirectScrapeMeasuresACountersIncreaseOverTheScenario() throws {
        let workspace = try Workspace()
        let port = try freePort()
        let demo = try LocalService(
            [EbbBinary.path, "demo-target", "--port", String(port)], in: workspace.url, name: "demo")
        #expect(demo.waitUntil("http://127.0.0.1:\(port)/healthz"))
        let suite = try workspace.write(
            suite: Self.suite(
                telemetry: """
                    telemetry:
                      scrape:
                        - { name: errors, url: "http://127.0.0.1:\(port)/metrics", metric: demo_errors_total, increase: "<= 5", interval: 200ms }
                        - { name: up, url: "http://127.0.0.1:\(port)/metrics", metric: demo_up, value: "== 1" }
                    """,
                command: "for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null http://127.0.0.1:\(port)/missing; done"
            ))
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 1, "\(stdout)\n\(stderr)")
        let checks = try reportedChecks(in: workspace.url)
        #expect(checks["telemetry: errors"]?.status == "failed")
        #expect(checks["telemetry: errors"]?.measured == "10")
        #expect(checks["telemetry: errors"]?.limit == "<= 5")
        #expect(checks["telemetry: up"]?.status == "passed")
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
    }

    @Test func prometheusAlertsFailOnErrorSeverityAndOnlyReportWarnings() throws {
        let workspace = try Workspace()
        let demoPort = try freePort()
        let demo = try LocalService(
            [EbbBinary.path, "demo-target", "--port", String(demoPort)], in: workspace.url, name: "demo")
        #expect(demo.waitUntil("http://127.0.0.1:\(demoPort)/healthz"))
        let prometheus = try Prometheus(scraping: demoPort, in: workspace)
        #expect(
            prometheus.hasData("demo_up"), "Prometheus never scraped the demo target:\n\(prometheus.service.output)")

        // Krkn's alert profile format, unchanged, in its own file.
        try """
        - expr: demo_up > 0
          description: demo target is up, value {{$value}}
          severity: warning
        - expr: demo_up > 5
          description: never fires
          severity: critical
        """.write(to: workspace.url.appendingPathComponent("alerts.yaml"), atomically: true, encoding: .utf8)
        let warningOnly = try workspace.write(
            suite: Self.suite(
                telemetry: """
                    telemetry:
                      prometheus: { url: "\(prometheus.url)" }
                      alert_profile: alerts.yaml
                      queries:
                        - { name: up, query: "demo_up", expect: "== 1" }
                        - { name: up-over-window, query: "demo_up", range: true, reduce: min, expect: ">= 1" }
                    """), name: "warning.yaml")
        let first = try EbbRun.run(["run", warningOnly, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        var checks = try reportedChecks(in: workspace.url)
        #expect(checks["telemetry: alert 1: demo target is up, value"]?.status == "passed")
        #expect(
            checks["telemetry: alert 1: demo target is up, value"]?.message?.contains(
                "fired (warning) in 1 series: demo target is up, value 1") == true)
        #expect(checks["telemetry: alert 2: never fires"]?.measured == "not firing")
        #expect(checks["telemetry: up"]?.measured == "1")

        let errorFires = try workspace.write(
            suite: Self.suite(
                telemetry: """
                    telemetry:
                      prometheus: { url: "\(prometheus.url)", settle: 1s }
                      alerts:
                        - { name: demo-up, expr: "demo_up > 0", description: "demo target is up", severity: error }
                    """), name: "error.yaml")
        let second = try EbbRun.run(["run", errorFires, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(second.status == 1, "\(second.stdout)\n\(second.stderr)")
        checks = try reportedChecks(in: workspace.url)
        #expect(checks["telemetry: demo-up"]?.status == "failed")
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
    }

    @Test func runResultsArePushedToThePushgateway() throws {
        let workspace = try Workspace()
        let port = try freePort()
        let gateway = try LocalService(
            ["prometheus-pushgateway", "--web.listen-address=127.0.0.1:\(port)"], in: workspace.url, name: "pushgateway"
        )
        #expect(gateway.waitUntil("http://127.0.0.1:\(port)/-/ready"), "\(gateway.output)")
        let suite = try workspace.write(suite: Self.suite(telemetry: "", hold: "100ms"))
        let (status, stdout, stderr) = try EbbRun.run(
            [
                "run", suite, "--state-dir", workspace.state.path,
                "--pushgateway", "http://127.0.0.1:\(port)",
            ], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        let metrics = try #require(httpGet("http://127.0.0.1:\(port)/metrics"))
        let lines = metrics.split(separator: "\n").filter { $0.contains(#"job="ebb""#) }
        #expect(lines.contains { $0.hasPrefix("ebb_run_exit_code{") && $0.hasSuffix(" 0") }, "\(lines)")
        #expect(
            lines.contains {
                $0.hasPrefix("ebb_faults_reverted{") && $0.contains(#"scenario="window""#) && $0.hasSuffix(" 1")
            }, "\(lines)")
    }
}

/// Debian's Prometheus, scraping one target every second, with its storage in the workspace.
final class Prometheus {
    let service: LocalService
    let url: String

    init(scraping port: Int, in workspace: Workspace) throws {
        let listen = try freePort()
        url = "http://127.0.0.1:\(listen)"
        let config = workspace.url.appendingPathComponent("prometheus.yml")
        try """
        global: { scrape_interval: 1s, evaluation_interval: 1s }
        scrape_configs:
          - job_name: demo
            static_configs: [{ targets: ["127.0.0.1:\(port)"] }]
        """.write(to: config, atomically: true, encoding: .utf8)
        service = try LocalService(
            [
                "prometheus", "--config.file=\(config.path)",
                "--storage.tsdb.path=\(workspace.url.appendingPathComponent("tsdb").path)",
                "--web.listen-address=127.0.0.1:\(listen)",
            ], in: workspace.url, name: "prometheus")
    }

    /// Waits (polling the API) until `metric` has a sample: the first scrape lands seconds after start.
    func hasData(_ metric: String) -> Bool {
        service.waitUntil(
            "\(url)/api/v1/query?query=\(metric)", contains: "\"__name__\":\"\(metric)\"", timeout: .seconds(90))
    }
}
