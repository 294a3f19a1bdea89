import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The network faults against real kernel features, inside namespaces the tests build: each
/// test measures the fault's effect from a client namespace on a demo target in a server
/// namespace, then checks that the server namespace's nft ruleset, qdiscs and iptables rules are
/// exactly what they were before. Serialized, so that one test's traffic never skews another's
/// measurement. Namespaces, nft and tc need root: CI runs as root; elsewhere these are skipped.
@Suite(
    .serialized, .ownThread,
    .enabled(if: getuid() == 0, "network faults create namespaces, nft tables and qdiscs, which needs root"))
struct NetworkTests {
    /// A workspace, a sandbox with the demo target running, and the server's state before any fault.
    func prepare() throws -> (Workspace, NetworkSandbox, String) {
        let workspace = try Workspace()
        let sandbox = try NetworkSandbox()
        try sandbox.startDemoTarget(log: workspace.url.appendingPathComponent("demo-target.log").path)
        return (workspace, sandbox, try sandbox.serverState())
    }

    func suite(_ fault: String, duration: String) -> String {
        """
        suite: network
        scenarios:
          - name: fault
            duration: \(duration)
            faults:
              - \(fault)
        """
    }

    func start(_ suite: String, in workspace: Workspace, _ extra: [String] = []) throws -> EbbRun {
        let path = try workspace.write(suite: suite)
        let run = try EbbRun(["run", path, "--state-dir", workspace.state.path] + extra, in: workspace.url)
        try #require(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        return run
    }

    @Test func partitionRejectsConnectionsUntilUndone() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let run = try start(
            suite(
                "network.partition: { netns: \(sandbox.server), direction: ingress, port: \(sandbox.port), action: reject }",
                duration: "3s"), in: workspace)
        let during = try sandbox.inClient([
            "curl", "-s", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}", "\(sandbox.url)/healthz",
        ])
        #expect(
            during.status == 7,
            "curl should be refused (exit 7) by the TCP reset, got \(during.status): \(during.output)")
        let ruleset = try sandbox.inServer(["nft", "list", "ruleset"]).output
        #expect(ruleset.contains("table inet ebb_") && ruleset.contains("reject with tcp reset"), "\(ruleset)")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(try sandbox.serverState() == before)
        #expect(sandbox.clientReachesServer())
    }

    @Test func lossDropsAboutTheRequestedShareOfAThousandPackets() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let run = try start(
            suite(
                "network.loss: { netns: \(sandbox.server), percent: 30, protocol: icmp, direction: ingress }",
                duration: "20s"), in: workspace)
        let loss = try sandbox.pingLoss(count: 1000)
        // 30% of 1,000 has a standard deviation of 1.45 points; 7 points is almost 5 of them.
        #expect(abs(loss - 0.30) <= 0.07, "measured loss \(loss)")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(try sandbox.serverState() == before)
        #expect(try sandbox.pingLoss(count: 200) == 0)
    }

    @Test func delayRaisesTheMedianRoundTripByTheRequestedAmount() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let baseline = median(try sandbox.pingTimes(count: 20))
        let run = try start(
            suite("network.delay: { netns: \(sandbox.server), delay: 100ms, jitter: 5ms }", duration: "12s"),
            in: workspace)
        let delayed = try sandbox.pingTimes(count: 30)
        #expect(delayed.count == 30, "every ping should come back, only later: \(delayed)")
        let added = median(delayed) - baseline
        #expect(abs(added - 100) <= 10, "median round trip rose by \(added) ms (baseline \(baseline) ms)")
        #expect(sandbox.clientReachesServer(), "delayed TCP still works")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(try sandbox.serverState() == before)
        let id = try unwrap(workspace.runIDs().first)
        #expect(workspace.processes(carrying: "EBB_DELAY", ofRun: id).isEmpty)
        #expect(median(try sandbox.pingTimes(count: 20)) < 20)
    }

    @Test func bandwidthCapsThroughputAtTheRequestedRate() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let run = try start(
            suite(
                "network.bandwidth: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), rate: 8mbit }",
                duration: "15s"), in: workspace)
        let rate = try sandbox.downloadRate(bytes: 3_000_000)
        // Never above the cap; below it only by what a machine busy with other tests costs the
        // transfer (a unit mistake would be off by 8 or 1000 times).
        #expect(rate <= 1_100_000 && rate >= 750_000, "measured \(rate) bytes/s for 8mbit (1,000,000 bytes/s)")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(try sandbox.serverState() == before)
        #expect(try sandbox.downloadRate(bytes: 3_000_000) > 3_000_000)
    }

    @Test func rollbackExecuteRestoresEveryNetworkFaultAfterTheRunnerIsKilled() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let suite = """
            suite: network
            scenarios:
              - name: everything
                duration: 5m
                faults:
                  - network.partition: { netns: \(sandbox.server), port: 9, protocol: udp }
                  - network.loss: { netns: \(sandbox.server), percent: 50, protocol: icmp, direction: ingress }
                  - network.bandwidth: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), rate: 1mbit }
                  - network.delay: { netns: \(sandbox.server), delay: 200ms }
            """
        let run = try start(suite, in: workspace, ["--no-guardian"])
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        let during = try sandbox.serverState()
        #expect(during.contains("ebb_\(id)_") && during.contains("tbf") && during.contains("NFQUEUE"), "\(during)")
        #expect(
            !workspace.processes(carrying: "EBB_DELAY", ofRun: id).isEmpty,
            "the delayer outlives the runner until its deadline")

        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(try sandbox.serverState() == before)
        #expect(workspace.processes(carrying: "EBB_DELAY", ofRun: id).isEmpty)
        #expect(median(try sandbox.pingTimes(count: 10)) < 20)
        let again = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
    }

    @Test func aForeignRootQdiscMakesBandwidthRefuseAndStayUntouched() throws {
        let (workspace, sandbox, _) = try prepare()
        defer { sandbox.close() }
        #expect(
            try sandbox.inServer([
                "tc", "qdisc", "add", "dev", sandbox.serverInterface, "root", "handle", "1:", "pfifo",
            ]).status == 0)
        let before = try sandbox.serverState()
        let path = try workspace.write(
            suite: suite(
                "network.bandwidth: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), rate: 8mbit }",
                duration: "2s"))
        let result = try EbbRun.run(["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(result.status != 0)
        #expect(
            (result.stdout + result.stderr).contains("already has a root qdisc pfifo 1: that Ebb did not add"),
            "\(result.stdout)\n\(result.stderr)")
        #expect(try sandbox.serverState() == before)
    }

    @Test func aForeignTableOfTheSameNameMakesPartitionRefuseAndStayUntouched() throws {
        let (workspace, sandbox, _) = try prepare()
        defer { sandbox.close() }
        // The table name carries the run id, known only once the run starts: a setup fixture
        // holds the run until the test has planted tables of every name its fault could use.
        let gate = try freePort()
        let path = try workspace.write(
            suite: """
                suite: network
                setup:
                  - name: gate
                    command: [sleep, "600"]
                    ready: { tcp: "127.0.0.1:\(gate)", timeout: 60s }
                scenarios:
                  - name: fault
                    duration: 2s
                    faults:
                      - network.partition: { netns: \(sandbox.server), port: \(sandbox.port) }
                """)
        let run = try EbbRun(["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(eventually(timeout: .seconds(30)) { !workspace.runIDs().isEmpty })
        let id = try unwrap(workspace.runIDs().first)
        for sequence in 1...4 {
            #expect(try sandbox.inServer(["nft", "add", "table", "inet", "ebb_\(id)_\(sequence)"]).status == 0)
        }
        let before = try sandbox.serverState()
        let listener = try ChildProcess.spawn(["python3", "-m", "http.server", "--bind", "127.0.0.1", String(gate)])
        defer {
            kill(listener, SIGKILL)
            _ = ChildProcess.wait(listener, timeout: .seconds(5))
        }
        let status = run.wait()
        #expect(status != 0)
        #expect(run.stdout.contains("already exists and was not made by this fault"), "\(run.stdout)\n\(run.stderr)")
        #expect(try sandbox.serverState() == before)
        #expect(sandbox.clientReachesServer())
    }

    @Test func netemIsUsedWhereTheKernelHasItAndOtherwiseRefusedClearly() throws {
        let (workspace, sandbox, before) = try prepare()
        defer { sandbox.close() }
        let path = try workspace.write(
            suite: suite(
                "network.delay: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), delay: 100ms, mechanism: netem }",
                duration: "10s"))
        // Whether the kernel has netem, asked independently of Ebb, in the test's own namespace.
        let netem =
            try sandbox.inServer(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).status == 0
        if netem { _ = try sandbox.inServer(["tc", "qdisc", "del", "dev", "lo", "root"]) }
        let run = try EbbRun(["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        if netem {
            try #require(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
            let added = median(try sandbox.pingTimes(count: 20)) - 0.1
            #expect(abs(added - 100) <= 10, "median round trip rose by \(added) ms")
            #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        } else {
            #expect(run.wait() != 0)
            #expect(run.stdout.contains("this kernel has no netem qdisc"), "\(run.stdout)\n\(run.stderr)")
        }
        #expect(try sandbox.serverState() == before)
    }

    @Test func theExampleSuiteExercisesEveryFaultAndLeavesNothingBehind() throws {
        let workspace = try Workspace()
        let namespacesBefore = try networkNamespaces(prefixed: "ebbnet-")
        let hostBefore = try ChildProcess.run(["nft", "list", "ruleset"], timeout: .seconds(10)).output
        defer {
            // Should the run itself fail, the sandbox's namespaces still go.
            if !namespacesBefore.contains(where: { $0.hasPrefix("ebbnet-srv") }) {
                for namespace in ["ebbnet-srv", "ebbnet-cli"] {
                    _ = try? ChildProcess.run(["ip", "netns", "delete", namespace], timeout: .seconds(10))
                }
            }
        }
        let suite = SchemaTests.repository.appendingPathComponent("Scenarios/linux-network.yaml").path
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        for plugin in [
            "network.partition", "network.loss", "network.delay", "network.bandwidth", "process.throttle",
            "process.freeze", "hog.cpu",
        ] {
            #expect(stdout.contains("ok   rollback: \(plugin)"), "\(plugin) was not rolled back: \(stdout)")
        }
        #expect(stdout.contains("downtime"), "the partition shows as downtime of the check")
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
        #expect(try networkNamespaces(prefixed: "ebbnet-") == namespacesBefore, "the sandbox removed its namespaces")
        #expect(try ChildProcess.run(["nft", "list", "ruleset"], timeout: .seconds(10)).output == hostBefore)
        #expect(
            CgroupCleanup.ebbGroups().filter { group in workspace.runIDs().contains { group.contains($0) } }.isEmpty)
    }
}
