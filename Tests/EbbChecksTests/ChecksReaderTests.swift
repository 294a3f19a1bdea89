import EbbChecks
import EbbCore
import EbbFaults
import EbbProxy
import EbbTestSupport
import Foundation
import Testing

/// The `checks:` and `telemetry:` sections are validated completely before anything runs, and
/// every mistake names file, line, column and key.
@Suite struct ChecksReaderTests {
    let loader = SuiteLoader(catalog: .standard, checkReader: ChecksReader(), remoteFaults: RemoteFleet())
    static let scenario = """
        scenarios:
          - name: one
            duration: 1s
            faults:
              - command: { inject: [true], rollback: [true] }
        """

    func errors(_ yaml: String, addingScenario: Bool = true) -> [SuiteError] {
        loader.errors(loading: addingScenario ? yaml + "\n" + Self.scenario : yaml)
    }

    @Test func aCompleteSectionLoadsAndNamesEveryCheckAndAssertion() throws {
        let suite = try loader.load(
            text: """
                checks:
                  - name: api
                    http:
                      url: https://127.0.0.1:8443/healthz
                      method: head
                      headers: { X-Probe: ebb }
                      bearer_token_env: API_TOKEN
                      status: [200, 300-399]
                      body_matches: "^ok"
                      tls_verify: false
                      timeout: 300ms
                    interval: 50ms
                    phases: [before, during]
                    before_samples: 5
                    slo: { max_downtime: 1s, min_success_ratio: 95%, latency_p99: 200ms, max_consecutive_failures: 2, recover_within: 5s, abort_on_breach: true }
                  - name: port
                    tcp: { address: "127.0.0.1:5432" }
                  - name: script
                    command: { run: [sh, -c, "echo ready"], output_contains: ready }
                telemetry:
                  scrape:
                    - { name: errors, url: "http://127.0.0.1:9100/metrics", metric: http_errors_total, labels: { code: "500" }, increase: "<= 5" }
                  prometheus: { url: "http://127.0.0.1:9090" }
                  queries:
                    - { name: p99, query: "histogram_quantile(0.99, rate(x[1m]))", range: true, expect: "between 0 and 0.5" }
                  alerts:
                    - { expr: "up == 0", description: "target down", severity: warning }
                \(Self.scenario)
                  - name: two
                    duration: 1s
                    checks: [api, errors]
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """, path: "suite.yaml")
        let plan = try #require(suite.checks)
        #expect(plan.names == ["api", "port", "script", "errors", "p99", "alert 1: target down"])
        #expect(suite.scenarios[1].checks == ["api", "errors"])
        #expect(suite.scenarios[0].checks == nil)
        #expect(
            plan.outline.first
                == "check api: http HEAD https://127.0.0.1:8443/healthz every 50ms, phases before, during")
    }

    @Test func everyMistakeIsReportedWithItsPlace() {
        let problems = errors(
            """
            checks:
              - name: api
                http: { url: "ftp://x", status: [700], tls_verfy: false }
                slo: { max_downtime: soon, min_success_ratio: 1.5, abort_on_breach: maybe }
              - name: twice
                tcp: { address: "no-port" }
                command: { run: [true] }
            telemetry:
              scrape:
                - { name: s, url: "http://127.0.0.1:1/metrics", metric: m, increase: "about 5" }
              queries:
                - { name: q, query: up, expect: "== 1" }
            """)
        let keys = problems.map(\.key)
        #expect(keys.contains("checks[0].http.tls_verfy"))
        #expect(
            problems.first { $0.key == "checks[0].http.tls_verfy" }?.message.contains("did you mean 'tls_verify'")
                == true)
        #expect(keys.contains("checks[1]"))
        #expect(keys.contains("telemetry.scrape[0].increase"))
        #expect(keys.contains("telemetry.prometheus"))
        #expect(problems.allSatisfy { $0.file == "suite.yaml" && $0.line > 0 && $0.column > 0 })
        #expect(problems.map(\.line) == problems.map(\.line).sorted())
    }

    @Test func credentialsInTheSuiteAreRefused() {
        let problem = errors(
            """
            checks:
              - name: api
                http: { url: "http://127.0.0.1:1/", headers: { Authorization: "Bearer secret" } }
            """
        ).first
        #expect(problem?.key == "checks[0].http.headers.Authorization")
        #expect(problem?.message.contains("bearer_token_env") == true)
    }

    @Test func aCommandCheckMayRunOnAHostAndOthersMayNot() throws {
        let hosts = "hosts:\n  - { name: web1, address: 10.9.0.11, user: deploy }\n"
        let suite = try loader.load(
            text: hosts + """
                checks:
                  - name: disk
                    command: { run: [sh, -c, "df -P / | tail -1"] }
                    host: web1
                """ + "\n" + Self.scenario, path: "suite.yaml")
        let outline = try #require(suite.checks?.outline.first)
        #expect(outline.contains("command on host web1: sh -c df -P / | tail -1"), "\(outline)")
        let onHTTP = errors(
            hosts + """
                checks:
                  - name: api
                    http: { url: "http://127.0.0.1:8080/" }
                    host: web1
                """)
        #expect(onHTTP.first?.key == "checks[0].host", "\(onHTTP)")
        #expect(onHTTP.first?.message.contains("only a command check runs on a host") == true, "\(onHTTP)")
        let typo = errors(
            hosts + """
                checks:
                  - name: disk
                    command: { run: [true] }
                    host: web2
                """)
        #expect(typo.first?.key == "checks[0].host", "\(typo)")
        #expect(typo.first?.message.contains("did you mean 'web1'") == true, "\(typo)")
    }

    @Test func aScenarioMayPickOnlyChecksThatExist() {
        let problem = errors(
            """
            checks:
              - name: api
                tcp: { address: "127.0.0.1:1" }
            scenarios:
              - name: one
                duration: 1s
                checks: [apii]
                faults:
                  - command: { inject: [true], rollback: [true] }
            """, addingScenario: false
        ).first
        #expect(problem?.key == "scenarios[0].checks[0]")
        #expect(problem?.message.contains("did you mean 'api'") == true)
    }
}

/// The example suites stay loadable as the format grows.
@Suite struct ExampleSuiteTests {
    @Test func everySuiteInScenariosLoads() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Scenarios"
        ).standardized
        let suites = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        #expect(suites.count >= 2)
        var catalog = PluginCatalog.standard
        catalog.registerProxies()
        for name in suites {
            let suite = try SuiteLoader(
                catalog: catalog, checkReader: ChecksReader(), proxyReader: ProxiesReader(services: LiveServices()),
                remoteFaults: RemoteFleet()
            )
            .load(path: folder.appendingPathComponent(name).path)
            #expect(suite.checks != nil, "\(name) has no checks")
        }
    }
}

/// Shared check definitions live in files that suites include.
@Suite struct IncludeTests {
    @Test func includedChecksJoinTheSuitesAndErrorsNameTheIncludedFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-include-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        checks:
          - name: shared-api
            tcp: { address: "127.0.0.1:${API_PORT:-8080}" }
        telemetry:
          alerts:
            - { expr: "up == 0", severity: warning }
        """.write(to: folder.appendingPathComponent("shared.yaml"), atomically: true, encoding: .utf8)
        try """
        checks:
          - name: broken
            tcp: { adress: "x:1" }
        """.write(to: folder.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        let loader = SuiteLoader(catalog: .standard, checkReader: ChecksReader())
        let suite = try loader.load(
            text: """
                include: [shared.yaml]
                telemetry:
                  prometheus: { url: "http://127.0.0.1:9090" }
                \(ChecksReaderTests.scenario)
                """, path: folder.appendingPathComponent("suite.yaml").path)
        #expect(suite.checks?.names == ["shared-api", "alert 1"])
        do {
            _ = try loader.load(
                text: "include: [broken.yaml]\n" + ChecksReaderTests.scenario,
                path: folder.appendingPathComponent("suite.yaml").path)
            Issue.record("a broken include was accepted")
        } catch let error as SuiteErrors {
            #expect(error.errors.first?.file.hasSuffix("broken.yaml") == true)
            #expect(error.errors.first?.line == 3)
        }
    }
}
