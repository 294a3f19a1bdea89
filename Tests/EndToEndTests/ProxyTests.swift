import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fault proxy through the binary: the example suite end to end, and a runner killed while a
/// toxic is live (the proxy dies with it; the guardian's summary says so).
@Suite(.serialized, .ownThread) struct ProxyTests {
    static let suite = SchemaTests.repository.appendingPathComponent("Scenarios/proxy.yaml").path

    @Test func theProxyExampleRunsEveryToxicWithoutRootAndRollsEachBack() throws {
        let workspace = try Workspace()
        defer { workspace.waitForGuardians() }
        let environment = ProcessInfo.processInfo.environment.merging(
            ["EBB_DEMO_PORT": String(try freePort()), "EBB_PROXY_PORT": String(try freePort())]) { _, new in new }
        let run = try EbbRun(
            ["run", Self.suite, "--state-dir", workspace.state.path, "--report-dir", "reports"],
            in: workspace.url, environment: environment)
        let status = run.wait()
        #expect(status == 0, "\(run.stdout)\n\(run.stderr)")
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        for toxic in ["latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data"] {
            #expect(junit.contains("proxy demo-api: \(toxic)"), "no inject step for \(toxic)")
        }
        #expect(junit.contains("answer 503") && junit.contains("abort the connection"))
        #expect(!junit.contains("<failure") && !junit.contains("<error"), "\(junit)")
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
        let summary = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.md"), encoding: .utf8)
        #expect(summary.contains("proxy.stop") || summary.contains("proxy demo-api"), "\(summary)")
        let proxyPort = Int(try unwrap(environment["EBB_PROXY_PORT"]))!
        #expect(!canConnect(port: proxyPort), "the proxy stops with the suite")
    }

    @Test func aRunnerKilledDuringAToxicTakesItsProxyAlongAndTheGuardianSaysSo() throws {
        let workspace = try Workspace()
        defer { workspace.waitForGuardians() }
        let demoPort = try freePort()
        let proxyPort = try freePort()
        let suite = try workspace.write(
            suite: """
                setup:
                  - name: demo
                    command: [ebb, demo-target, --port, "\(demoPort)"]
                    ready: { http: "http://127.0.0.1:\(demoPort)/healthz", timeout: 20s }
                proxies:
                  - { name: api, listen: "127.0.0.1:\(proxyPort)", upstream: "127.0.0.1:\(demoPort)" }
                scenarios:
                  - name: slow
                    duration: 5m
                    faults:
                      - proxy.toxic: { proxy: api, toxic: latency, latency: 50ms }
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        #expect(httpGet("http://127.0.0.1:\(proxyPort)/healthz") == "ok\n")
        let runID = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(!canConnect(port: proxyPort), "clients of the proxy get connection refused")
        let report = workspace.url.appendingPathComponent("reports/rollback-summary-\(runID).md").path
        #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: report) })
        let summary = try String(contentsOfFile: report, encoding: .utf8)
        #expect(summary.contains("proxy gone with the runner") && summary.contains("connection refused"), "\(summary)")
        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("recovered by guardian"), "\(list.stdout)")
    }

    @Test func aBadProxyFaultIsInvalidInputWithItsPosition() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                proxies:
                  - { name: api, listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080" }
                scenarios:
                  - name: s
                    duration: 1s
                    faults:
                      - proxy.toxic: { proxy: api, toxic: latency, rate: 1K, latency: 1s }
                """)
        let result = try EbbRun.run(["validate", suite], in: workspace.url)
        #expect(result.status == 3)
        #expect(
            result.stderr.contains("suite.yaml:7:")
                && result.stderr.contains("scenarios[0].faults[0].proxy.toxic.rate"), "\(result.stderr)")
        let plugins = try EbbRun.run(["plugins"], in: workspace.url)
        #expect(plugins.stdout.contains("proxy.toxic") && plugins.stdout.contains("proxy.http"))
    }

    @Test func aProxyWhosePortIsTakenFailsSetupAndInjectsNothing() throws {
        let workspace = try Workspace()
        defer { workspace.waitForGuardians() }
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(taken, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        #expect(bound && listen(taken, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let suite = try workspace.write(
            suite: """
                proxies:
                  - { name: api, listen: "127.0.0.1:\(port)", upstream: "127.0.0.1:\(try freePort())" }
                scenarios:
                  - name: slow
                    duration: 1s
                    faults:
                      - proxy.toxic: { proxy: api, toxic: latency, latency: 50ms }
                """)
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.status == 4, "as for a fixture that fails to start: \(run.stdout)")
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("cannot listen on 127.0.0.1:\(port)"), "\(junit)")
        #expect(!junit.contains("inject: proxy.toxic"), "nothing was injected: \(junit)")
    }

    private func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
