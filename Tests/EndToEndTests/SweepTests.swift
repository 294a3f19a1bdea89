import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// When everything dies (runner, guardian and the workspace holding the journal), the host
/// registry and `ebb rollback sweep` still take every fault back once its deadline has passed.
@Suite(.serialized, .ownThread) struct SweepTests {
    /// Starts a run holding a fault of each host family, then kills runner and guardian together
    /// and deletes the state directory: what a cancelled CI job whose workspace is wiped leaves.
    func abandonedRun(
        _ workspace: Workspace, registry: URL, pauseMarker: String, hold: String, grace: String
    ) throws -> [String: String] {
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                setup:
                  - name: service
                    command: [sleep, "300"]
                scenarios:
                  - name: abandoned
                    duration: \(hold)
                    faults:
                      - process.pause: { match: "sleep \(pauseMarker)" }
                      - file.corrupt: { path: files/a.txt }
                      - file.remove: { path: files/b.txt }
                      - disk.fill: { path: files, size: 4M }
                      - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag], verify: [sh, -c, "! test -e files/flag"] }
                """)
        let environment = ["EBB_REGISTRY_DIR": registry.path]
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", grace, "--state-dir", workspace.state.path], in: workspace.url,
            environment: environment)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGSTOP)
        let guardians = CrashTortureTests.guardians(of: workspace)
        #expect(guardians.count == 1)
        guardians.forEach { kill($0, SIGKILL) }
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(eventually { guardians.allSatisfy { [nil, "Z"].contains(workspace.processState($0)) } })
        try FileManager.default.removeItem(at: workspace.state)
        return environment
    }

    func sweep(_ workspace: Workspace, _ environment: [String: String]) throws -> (status: Int32, output: String) {
        let run = try EbbRun(
            ["rollback", "sweep", "--report-dir", "sweep-reports"], in: workspace.url, environment: environment)
        let status = run.wait()
        return (status, run.stdout + run.stderr)
    }

    /// The latest deadline of any record still pending in the registry.
    func latestDeadline(in registry: URL) throws -> Date {
        var latest = Date.distantPast
        for run in try FileManager.default.contentsOfDirectory(atPath: registry.path) {
            let snapshot = JournalReader(holding: registry.appendingPathComponent(run)).run(
                at: registry.appendingPathComponent(run))
            for record in snapshot.records where record.state.isPending { latest = max(latest, record.deadline) }
        }
        return latest
    }

    @Test func afterTheWholeJobDiedTheSweepRevertsEverythingPastItsDeadlineOnly() throws {
        let workspace = try Workspace()
        let registry = workspace.url.appendingPathComponent("registry")
        let pauseMarker = "\(Int.random(in: 100_000...999_999)).3"
        let paused = try workspace.startSleeper(pauseMarker)
        let environment = try abandonedRun(
            workspace, registry: registry, pauseMarker: pauseMarker, hold: "3s", grace: "1s")
        #expect(!FileManager.default.fileExists(atPath: workspace.state.path), "the journal is gone")
        #expect(workspace.processState(paused) == "T")

        // Before the deadline: the sweep leaves everything alone (the job may be alive elsewhere).
        let early = try sweep(workspace, environment)
        #expect(early.status == 0, "\(early.output)")
        #expect(early.output.contains("not yet past their deadline"))
        #expect(!workspace.filesAreAsTheyWere())
        #expect(workspace.processState(paused) == "T")

        let runID = try unwrap(
            try FileManager.default.contentsOfDirectory(atPath: registry.path).first?.split(separator: "-").last.map(
                String.init))
        #expect(workspace.fixtureProcesses(ofRun: runID).count == 1, "the fixture outlived its runner")
        let deadline = try latestDeadline(in: registry)
        #expect(deadline > Date())
        #expect(eventually(timeout: .seconds(15)) { Date() > deadline }, "waiting for the faults' deadline")
        let swept = try sweep(workspace, environment)
        #expect(swept.status == 0, "\(swept.output)")
        #expect(workspace.filesAreAsTheyWere(), "files restored from the registry's backups, fill file and flag gone")
        #expect(workspace.processState(paused) == "S", "the paused process runs again")
        #expect(workspace.fixtureProcesses(ofRun: runID).isEmpty, "the fixture is stopped")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: registry.path).isEmpty,
            "a settled run leaves the registry")
        let summaries = try FileManager.default.contentsOfDirectory(
            atPath: workspace.url.appendingPathComponent("sweep-reports").path)
        #expect(summaries.contains { $0.hasPrefix("rollback-summary-sweep-") && $0.hasSuffix(".md") })

        let again = try sweep(workspace, environment)
        #expect(again.status == 0)
        // Nothing of this run is left to sweep. (A sweep is host-wide: the expired marks of a
        // test running beside this one may be swept here, so "Nothing to sweep" is not asked for.)
        #expect(!again.output.contains(runID), "\(again.output)")
    }

    /// With no record left anywhere (journal and registry both gone), Ebb's nft tables still carry
    /// their expiry: the sweep deletes those past it, and never a table that is not exactly Ebb's.
    /// The runner dies and its guardian starts taking the fault back through the journal; the
    /// workspace is deleted while that undo runs, past the fault's deadline. The sweep can then
    /// reach the run only through its registry copy, whose lock is the journal's: it finds the
    /// lock held and leaves the run alone instead of starting the same undo beside the
    /// guardian's. The guardian records its outcome in the copy, and the undo runs once.
    @Test func aSweepNeverRunsAnUndoBesideAGuardianWhoseJournalWasDeleted() throws {
        let workspace = try Workspace()
        let registry = workspace.url.appendingPathComponent("registry")
        let log = workspace.url.appendingPathComponent("undo.log").path
        let flag = workspace.url.appendingPathComponent("files/flag").path
        let suite = try workspace.write(
            suite: """
                scenarios:
                  - name: slow-undo
                    duration: 1s
                    faults:
                      - command:
                          inject: [touch, \(flag)]
                          rollback: [sh, -c, "echo start >> \(log); sleep 4; rm -f \(flag); echo end >> \(log)"]
                """)
        let environment = ["EBB_REGISTRY_DIR": registry.path]
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "100ms", "--state-dir", workspace.state.path], in: workspace.url,
            environment: environment)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        func lines() -> [String] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        #expect(eventually(timeout: .seconds(10)) { lines() == ["start"] }, "the guardian's undo began: \(lines())")
        let deadline = try latestDeadline(in: registry)
        try FileManager.default.removeItem(at: workspace.state)
        #expect(eventually(timeout: .seconds(5)) { Date() > deadline })

        let during = try sweep(workspace, environment)
        #expect(lines() == ["start"], "no second undo while the guardian's runs: \(lines())\n\(during.output)")
        #expect(during.output.contains("holds the lock"), "\(during.output)")

        #expect(eventually(timeout: .seconds(10)) { lines().last == "end" }, "the guardian's undo ended: \(lines())")
        var after: (status: Int32, output: String) = (-1, "")
        let clean = eventually(timeout: .seconds(20)) {
            after = (try? sweep(workspace, environment)) ?? (-1, "")
            return after.status == 0 && !FileManager.default.fileExists(atPath: flag)
                && ((try? FileManager.default.contentsOfDirectory(atPath: registry.path)) ?? []).isEmpty
        }
        #expect(clean, "\(after.output)")
        // The guardian recorded its outcome in the copy, so the sweep had nothing left to undo.
        #expect(lines() == ["start", "end"], "one undo, never two side by side nor one after the other")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root for network namespaces and nft"))
    func expiredEbbTablesAreDeletedWithoutAnyRecordAndForeignOnesAreLeftAlone() throws {
        let workspace = try Workspace()
        let sandbox = try NetworkSandbox()
        defer { sandbox.close() }
        let registry = workspace.url.appendingPathComponent("registry")
        let suite = try workspace.write(
            suite: """
                scenarios:
                  - name: cut
                    duration: 2s
                    faults:
                      - network.partition: { netns: \(sandbox.server), port: 8080 }
                """)
        let environment = ["EBB_REGISTRY_DIR": registry.path]
        // Tables that look like Ebb's but are not exactly: another comment, no expiry, a future expiry.
        let future = Int(Date().timeIntervalSince1970) + 3600
        let foreign = [
            ("ebb_0badf00d_1", "made by hand"), ("ebb_0badf00d_2", "ebb run 0badf00d fault 2"),
            ("ebb_0badf00d_3", "ebb run 0badf00d fault 3 expires \(future)"),
        ]
        for (name, comment) in foreign {
            let created = try ChildProcess.run(
                [
                    "ip", "netns", "exec", sandbox.server, "nft", "add", "table", "inet", name,
                    "{ comment \"\(comment)\"; }",
                ],
                timeout: .seconds(10))
            #expect(created.status == 0, "\(created.output)")
        }
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "500ms", "--no-guardian", "--state-dir", workspace.state.path],
            in: workspace.url, environment: environment)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        func tables() throws -> [String] {
            try ChildProcess.run(
                ["ip", "netns", "exec", sandbox.server, "nft", "list", "tables"], timeout: .seconds(10)
            ).output
                .split(separator: "\n").map(String.init)
        }
        let before = try tables()
        #expect(
            before.filter { !$0.contains("0badf00d") && $0.contains("ebb_") }.count == 1,
            "the partition's table is live: \(before)")
        try FileManager.default.removeItem(at: workspace.state)
        try FileManager.default.removeItem(at: registry)

        // Its expiry (2 s hold + 500 ms grace from injection) has not passed yet.
        let early = try sweep(workspace, environment)
        #expect(early.status == 0)
        let untouched = try tables()
        #expect(untouched.filter { $0.contains("ebb_") }.count == 4, "\(untouched)")
        // Waits for this table to go, not for any "deleted": the sweep acts host-wide, and
        // suites running beside this one leave expired tables of their own.
        #expect(
            eventually(timeout: .seconds(10)) {
                _ = try? sweep(workspace, environment)
                return (try? tables())?.contains { $0.contains("ebb_") && !$0.contains("0badf00d") } == false
            }, "the sweep deletes the table once its expiry has passed")
        let left = try tables()
        #expect(!left.contains { $0.contains("ebb_") && !$0.contains("0badf00d") }, "\(left)")
        for (name, _) in foreign { #expect(left.contains { $0.hasSuffix(name) }, "\(name) is not Ebb's to delete") }
    }

    /// The same with faults whose own kernel objects have no room for an expiry: a root qdisc and
    /// iptables rules (an nft table marks them), and cgroups (an extended attribute carries the
    /// expiry and the undo). A group that looks like Ebb's but carries no mark is left alone.
    @Test(.enabled(if: geteuid() == 0, "needs root for network namespaces, tc, iptables and cgroups"))
    func qdiscsRulesAndCgroupsWithoutAnyRecordAreTakenBackAfterTheirExpiry() throws {
        let workspace = try Workspace()
        let sandbox = try NetworkSandbox()
        defer { sandbox.close() }
        let registry = workspace.url.appendingPathComponent("registry")
        let frozen = try workspace.startSleeper("\(Int.random(in: 100_000...999_999)).4")
        let throttled = try workspace.startSleeper("\(Int.random(in: 100_000...999_999)).5")
        let cgroupsBefore = [frozen: CgroupCleanup.lines(frozen), throttled: CgroupCleanup.lines(throttled)]
        let foreignGroup = "/sys/fs/cgroup/freezer/ebb-0badf00d-1"
        try FileManager.default.createDirectory(atPath: foreignGroup, withIntermediateDirectories: false)
        defer { rmdir(foreignGroup) }
        let suite = try workspace.write(
            suite: """
                scenarios:
                  - name: marked
                    duration: 2s
                    faults:
                      - network.bandwidth: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), rate: 8mbit }
                      - network.delay: { netns: \(sandbox.server), delay: 50ms, port: \(sandbox.port) }
                      - process.freeze: { pid: \(frozen) }
                      - process.throttle: { pid: \(throttled), percent: 20 }
                """)
        let environment = ["EBB_REGISTRY_DIR": registry.path]
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "1s", "--no-guardian", "--state-dir", workspace.state.path],
            in: workspace.url, environment: environment)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        defer {
            for group in CgroupCleanup.ebbGroups() where group.contains(runID) {
                try? "THAWED".write(toFile: "\(group)/freezer.state", atomically: false, encoding: .utf8)
            }
        }
        run.signal(SIGKILL)
        _ = run.wait()
        try FileManager.default.removeItem(at: workspace.state)
        try FileManager.default.removeItem(at: registry)

        func inNamespace(_ arguments: [String]) throws -> String {
            try ChildProcess.run(["ip", "netns", "exec", sandbox.server] + arguments, timeout: .seconds(10)).output
        }
        func leftovers() throws -> [String] {
            var found: [String] = []
            if try inNamespace(["tc", "qdisc", "show", "dev", sandbox.serverInterface, "root"]).contains("tbf") {
                found.append("qdisc")
            }
            if try inNamespace(["iptables", "-t", "mangle", "-S"]).contains("ebb:\(runID)/") {
                found.append("iptables rule")
            }
            found += try inNamespace(["nft", "list", "tables"]).split(separator: "\n").filter {
                $0.contains("ebb_\(runID)_")
            }.map(String.init)
            found += CgroupCleanup.ebbGroups().filter { $0.contains(runID) }
            return found
        }
        let live = try leftovers()
        #expect(live.contains("qdisc") && live.contains("iptables rule"), "\(live)")
        #expect(
            live.filter { $0.contains("ebb_\(runID)_") }.count == 2,
            "an expiry marker for the qdisc and for the rules: \(live)")
        #expect(live.filter { $0.hasPrefix("/sys/fs/cgroup") }.count == 2, "\(live)")

        // Before the expiry: untouched.
        let early = try sweep(workspace, environment)
        #expect(early.status == 0, "\(early.output)")
        #expect(try leftovers() == live)

        var sweeps: [(status: Int32, output: String)] = []
        let swept = eventually(timeout: .seconds(15)) {
            if let swept = try? sweep(workspace, environment) { sweeps.append(swept) }
            return (try? leftovers())?.isEmpty == true
        }
        let remaining = try leftovers()
        #expect(swept, "the sweep takes everything back once the expiry has passed: \(remaining) \(sweeps)")
        // (A sweep is host-wide: one that another test runs meanwhile may take some back first.)
        #expect(sweeps.allSatisfy { $0.status == 0 }, "\(sweeps)")
        #expect(CgroupCleanup.lines(frozen) == cgroupsBefore[frozen], "the frozen process is back where it was, thawed")
        #expect(CgroupCleanup.lines(throttled) == cgroupsBefore[throttled])
        #expect(FileManager.default.fileExists(atPath: foreignGroup), "a group without Ebb's mark is not Ebb's")
        let again = try sweep(workspace, environment)
        #expect(again.status == 0)
        #expect(!again.output.contains(runID), "nothing of this run is left to sweep: \(again.output)")
    }

    /// A marked expiry counts from the hold's start, like the record's deadline: a scenario whose
    /// later faults take long to inject must not have its first fault swept in the middle of the hold.
    @Test(.enabled(if: geteuid() == 0, "needs root for network namespaces and nft"))
    func theMarkedExpiryMovesToTheEndOfTheHold() throws {
        let workspace = try Workspace()
        let sandbox = try NetworkSandbox()
        defer { sandbox.close() }
        let suite = try workspace.write(
            suite: """
                scenarios:
                  - name: slow
                    duration: 4s
                    faults:
                      - network.partition: { netns: \(sandbox.server), port: 8080 }
                      - command: { inject: [sleep, "2"], rollback: ["true"] }
                """)
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "1s", "--state-dir", workspace.state.path], in: workspace.url,
            environment: ["EBB_REGISTRY_DIR": "off"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let holding = Date()
        let runID = try unwrap(workspace.runIDs().first)
        let listing = try ChildProcess.run(
            ["ip", "netns", "exec", sandbox.server, "nft", "list", "table", "inet", "ebb_\(runID)_1"],
            timeout: .seconds(10)
        ).output
        let expiry = try unwrap(
            listing.range(of: "expires [0-9]+", options: .regularExpression).flatMap {
                Double(listing[$0].dropFirst(8))
            })
        // Injection + 5 s would be about 3 s from now (the command took 2 s); the hold's end + grace is 5 s.
        #expect(
            expiry >= holding.timeIntervalSince1970 + 4.5,
            "expires \(expiry - holding.timeIntervalSince1970) s after the hold started")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
    }
}
