import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults on remote hosts over SSH, against hosts of the test's own (network namespaces with
/// Debian's sshd): each host journals its faults and keeps a guardian, so a host reverts on
/// its own when the runner or the link dies. Needs root (namespaces, nft) and sshd.
@Suite(
    .serialized, .ownThread,
    .enabled(
        if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"),
        "remote hosts are network namespaces running sshd, which needs root and openssh-server"))
struct FleetTests {
    func suite(_ fleet: TestFleet, hold: String, hosts: String = "[h1, h2, h3]") -> String {
        """
        suite: fleet-test
        \(fleet.hostsSection)
        scenarios:
          - name: partition
            duration: \(hold)
            faults:
              - network.partition: { direction: ingress, port: 8080, action: reject }
                hosts: \(hosts)
        """
    }

    @Test func aFaultOnThreeHostsActsOnEachAndEveryHostJournalsIt() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 3, in: workspace)
        defer { fleet.close() }
        let path = try workspace.write(suite: suite(fleet, hold: "2s"))
        let run = try EbbRun(["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        for index in 1...3 {
            #expect(fleet.tables(index).contains("table inet ebb_"), "host \(index) has the fault's table")
        }
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        for index in 1...3 {
            #expect(!fleet.tables(index).contains("ebb_"), "host \(index) is clean: \(fleet.tables(index))")
            let records = fleet.remoteRecords(index, runID: runID)
            #expect(records.count == 1)
            #expect(records.first?["state"] as? String == "reverted")
            #expect(records.first?["revertedBy"] as? String == "remote undo (for the runner)")
            #expect(fleet.remoteRun(index, runID: runID)?["status"] as? String == "closed")
        }
        #expect(run.stdout.contains("network.partition@h2"))
    }

    @Test func whenTheRunnerIsKilledEveryHostsGuardianRevertsItsFault() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 3, in: workspace)
        defer { fleet.close() }
        let path = try workspace.write(suite: suite(fleet, hold: "5m"))
        // No local guardian: the hosts must revert on their own.
        let run = try EbbRun(["run", path, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        for index in 1...3 {
            #expect(
                eventually(timeout: .seconds(30)) { !fleet.tables(index).contains("ebb_") },
                "host \(index) reverted: \(fleet.tables(index))")
            #expect(
                eventually(timeout: .seconds(10)) {
                    fleet.remoteRun(index, runID: runID)?["recoveredBy"] as? String == "guardian"
                })
        }
        // The runner's journal still says pending; rollback execute confirms with each host's journal.
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
    }

    @Test func aHostCutOffMidHoldRevertsAtItsDeadlineAndTheRunReportsItLost() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 2, in: workspace)
        defer { fleet.close() }
        let path = try workspace.write(suite: suite(fleet, hold: "3s", hosts: "[h1, h2]"))
        let run = try EbbRun(
            ["run", path, "--deadline-grace", "2s", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("inject: network.partition@h2"), "\(run.stdout)\n\(run.stderr)")
        try fleet.setLink(1, up: false)
        let cut = Date()
        #expect(run.wait() == 2, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("NOT REVERTED: partition / network.partition@h1"), "\(run.stdout)")
        #expect(run.stdout.contains("host h1"))
        #expect(!fleet.tables(2).contains("ebb_"), "the reachable host was reverted by the runner")
        let runID = try unwrap(workspace.runIDs().first)
        // Host 1 reverted on its own, at its deadline (hold + grace from injection), with no link.
        #expect(eventually(timeout: .seconds(20)) { !fleet.tables(1).contains("ebb_") }, "\(fleet.tables(1))")
        let record = try unwrap(fleet.remoteRecords(1, runID: runID).first)
        #expect(record["state"] as? String == "reverted")
        #expect((record["revertedBy"] as? String ?? "").contains("deadline"), "\(record)")
        let reverted = try unwrap(parseDate(record["finishedAt"] as? String))
        let injected = try unwrap(parseDate(record["injectedAt"] as? String))
        #expect(reverted.timeIntervalSince(injected) >= 5 - 0.5, "not before its deadline")
        #expect(reverted.timeIntervalSince(cut) >= 0)
        // Until someone confirms, the run stays dirty; once the link is back, rollback execute does.
        try fleet.setLink(1, up: true)
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
    }

    @Test func aCommandCheckOnAHostRunsThere() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 2, in: workspace)
        defer { fleet.close() }
        // Passes only inside host 1's namespace: on the runner `ip netns identify` prints nothing.
        let path = try workspace.write(
            suite: """
                suite: fleet-check
                \(fleet.hostsSection)
                checks:
                  - name: on-h1
                    command: { run: [sh, -c, "ip netns identify | grep -qx \(fleet.prefix)-h1"], timeout: 5s }
                    host: h1
                    interval: 200ms
                    slo: { max_downtime: 0s }
                scenarios:
                  - name: partition
                    duration: 1s
                    faults:
                      - network.partition: { direction: ingress, port: 8080, action: reject }
                        host: h2
                """)
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        #expect(stdout.contains("ok   check: on-h1 (before)"), "\(stdout)")
        #expect(stdout.contains("100% healthy"), "\(stdout)")
    }

    /// A suite whose fixture serves on 127.0.0.1 of host h1: only a probe on the host itself can
    /// see it (the runner's 127.0.0.1 is another network namespace).
    func fixtureSuite(_ fleet: TestFleet, hold: String) -> String {
        """
        suite: fleet-fixture
        \(fleet.hostsSection)
        setup:
          - name: api
            host: h1
            command: [ebb, demo-target, --host, 127.0.0.1, --port, "9090"]
            ready: { http: "http://127.0.0.1:9090/healthz", timeout: 20s }
        checks:
          - name: api-on-h1
            command: { run: [curl, -sf, --max-time, "1", "http://127.0.0.1:9090/healthz"], timeout: 2s }
            host: h1
            interval: 200ms
            slo: { max_downtime: 0s }
        scenarios:
          - name: partition
            duration: \(hold)
            faults:
              - network.partition: { direction: ingress, port: 8080, action: reject }
                host: h2
        """
    }

    /// The pid the run printed for its fixture on a host.
    func fixturePID(_ stdout: String) -> Int32? {
        guard let range = stdout.range(of: #"fixture api ready \(pid (\d+) on host h1\)"#, options: .regularExpression)
        else { return nil }
        return Int32(stdout[range].split(separator: " ")[4])
    }

    @Test func aFixtureOnAHostStartsThereIsProbedThereAndStopsWithTheRun() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 2, in: workspace)
        defer { fleet.close() }
        let path = try workspace.write(suite: fixtureSuite(fleet, hold: "1s"))
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", path, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        #expect(
            stdout.contains("ok   check: api-on-h1 (before)"), "the fixture served on h1 before the faults: \(stdout)")
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains(#"name="fixture api""#), "the setup suite reports the fixture's stop: \(junit)")
        let pid = try #require(fixturePID(stdout), "\(stdout)")
        #expect(ProcessTable.snapshot(pid)?.isGone ?? true, "the fixture's process \(pid) is gone")
        let runID = try unwrap(workspace.runIDs().first)
        let record = try unwrap(fleet.remoteRecords(1, runID: runID).first { $0["kind"] as? String == "fixture.stop" })
        #expect(record["state"] as? String == "reverted", "h1 journaled the fixture and its stop: \(record)")
        #expect(fleet.remoteRun(1, runID: runID)?["status"] as? String == "closed")
    }

    @Test func whenTheRunnerIsKilledTheHostsGuardianStopsItsFixture() throws {
        let workspace = try Workspace()
        let fleet = try TestFleet(count: 2, in: workspace)
        defer { fleet.close() }
        let path = try workspace.write(suite: fixtureSuite(fleet, hold: "5m"))
        let run = try EbbRun(["run", path, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let pid = try #require(fixturePID(run.stdout), "\(run.stdout)")
        #expect(ProcessTable.snapshot(pid).map { !$0.isGone } == true, "the fixture runs on h1")
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(
            eventually(timeout: .seconds(30)) { ProcessTable.snapshot(pid)?.isGone ?? true },
            "h1's guardian stopped the fixture")
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
    }

    @Test func theExampleFleetSuiteRunsAndLeavesNothingBehind() throws {
        let workspace = try Workspace()
        let namespacesBefore = try networkNamespaces(prefixed: "ebbfleet-")
        let suite = SchemaTests.repository.appendingPathComponent("Scenarios/fleet.yaml").path
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        for fault in ["network.partition@web1", "network.partition@web2", "network.loss@web1"] {
            #expect(stdout.contains("ok   rollback: \(fault)"), "\(fault) was not rolled back: \(stdout)")
        }
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
        #expect(try networkNamespaces(prefixed: "ebbfleet-") == namespacesBefore, "the fixture removed its namespaces")
        #expect(!FileManager.default.fileExists(atPath: "/run/ebbfleet"), "the fixture removed its keys")
    }
}
