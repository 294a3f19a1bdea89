import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGKILLs the runner at random moments (starting fixtures, arming, injecting, holding,
/// rolling back, writing reports) and checks that the guardian alone puts every target back
/// and leaves a consistent journal. `EBB_TORTURE_TRIALS` sets the number of trials (ci/bench
/// runs many); each trial's time from kill to verified revert is printed, not asserted.
@Suite(.serialized, .ownThread) struct CrashTortureTests {
    static var trials: Int { Int(ProcessInfo.processInfo.environment["EBB_TORTURE_TRIALS"] ?? "") ?? 6 }

    static func suite(pauseMarker: String) -> String {
        """
        allowed_roots: [files]
        setup:
          - name: service
            command: [sleep, "300"]
        scenarios:
          - name: first
            duration: 150ms
            faults:
              - process.pause: { match: "sleep \(pauseMarker)" }
              - file.corrupt: { path: files/a.txt }
              - file.remove: { path: files/b.txt }
          - name: second
            duration: 150ms
            faults:
              - file.truncate: { path: files/c.txt }
              - disk.fill: { path: files, size: 4M }
              - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag] }
              - file.replace: { path: files/d.txt, content: x }
        """
    }

    @Test func aSIGKILLAtAnyMomentLeavesNothingBehind() throws {
        var recoveries: [Double] = []
        var leftovers = 0
        for trial in 0..<Self.trials {
            let (workspace, paused, run, delay) = try Self.startTrial(trial, tag: 1)
            run.signal(SIGKILL)
            let killedAt = ContinuousClock.now
            _ = run.wait()
            let clean = eventually(timeout: .seconds(10)) {
                workspace.filesAreAsTheyWere() && workspace.processState(paused) != "T" && journalIsSettled(workspace)
                    && workspace.runIDs().allSatisfy { workspace.fixtureProcesses(ofRun: $0).isEmpty }
            }
            if clean { recoveries.append((ContinuousClock.now - killedAt).seconds) } else { leftovers += 1 }
            if !clean {
                let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
                let guardianLog = workspace.runIDs().compactMap {
                    try? String(
                        contentsOf: workspace.runDirectory($0).appendingPathComponent("guardian.log"), encoding: .utf8)
                }
                Issue.record(
                    """
                    trial \(trial): killed after \(Int(delay * 1000)) ms, something stayed behind: files \(workspace.filesAreAsTheyWere()), \
                    paused \(String(describing: workspace.processState(paused))), journal settled \(journalIsSettled(workspace))
                    \(list.stdout)
                    guardian: \(guardianLog)
                    """)
            }
        }
        let sorted = recoveries.sorted()
        func percentile(_ p: Double) -> String {
            sorted.isEmpty
                ? "-" : String(format: "%.0f ms", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000)
        }
        print(
            "torture: runner killed, guardian recovers: \(Self.trials) trials, \(leftovers) leftovers; kill to verified revert p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(percentile(1))"
        )
        #expect(leftovers == 0)
    }

    /// The whole job dies: runner and guardian are SIGKILLed together at a random moment, and a
    /// fresh `ebb rollback execute --all` must put everything back from the journal alone.
    @Test func killingRunnerAndGuardianTogetherIsRecoveredByRollbackExecute() throws {
        var leftovers = 0
        var recoveries: [Double] = []
        for trial in 0..<Self.trials {
            let (workspace, paused, run, delay) = try Self.startTrial(trial, tag: 2)
            let guardians = Self.killTogether(run, in: workspace)
            let start = ContinuousClock.now
            let execute = try EbbRun.run(
                ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
            let clean =
                execute.status == 0 && workspace.filesAreAsTheyWere() && workspace.processState(paused) != "T"
                && journalIsSettled(workspace)
                && workspace.runIDs().allSatisfy { workspace.fixtureProcesses(ofRun: $0).isEmpty }
            if clean { recoveries.append((ContinuousClock.now - start).seconds) } else { leftovers += 1 }
            if !clean {
                let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
                Issue.record(
                    """
                    trial \(trial): runner and guardian (\(guardians)) killed after \(Int(delay * 1000)) ms; rollback execute exited \(execute.status): \
                    files \(workspace.filesAreAsTheyWere()), paused \(String(describing: workspace.processState(paused))), journal settled \(journalIsSettled(workspace))
                    \(execute.stdout)\(execute.stderr)
                    \(list.stdout)
                    """)
            }
        }
        let sorted = recoveries.sorted()
        let p50 = sorted.isEmpty ? "-" : String(format: "%.0f ms", sorted[sorted.count / 2] * 1000)
        print(
            "torture: runner and guardian killed together, then rollback execute: \(Self.trials) trials, \(leftovers) leftovers; rollback execute p50 \(p50)"
        )
        #expect(leftovers == 0)
    }

    /// Everything dies and the journal goes with the workspace: runner and guardian SIGKILLed at
    /// a random moment, the state directory deleted; once the deadlines have passed, `ebb
    /// rollback sweep` must put everything back from the host registry alone.
    @Test func killingEverythingAndDeletingTheJournalIsRecoveredBySweep() throws {
        var leftovers = 0
        for trial in 0..<Self.trials {
            let registry = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ebb-torture-registry-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: registry) }
            let environment = ["EBB_REGISTRY_DIR": registry.path]
            let (workspace, paused, run, delay) = try Self.startTrial(
                trial, tag: 3, arguments: ["--deadline-grace", "300ms"], environment: environment)
            _ = Self.killTogether(run, in: workspace)
            try? FileManager.default.removeItem(at: workspace.state)
            let runIDs = ((try? FileManager.default.contentsOfDirectory(atPath: registry.path)) ?? []).compactMap {
                $0.split(separator: "-").last.map(String.init)
            }
            var sweep: (status: Int32, output: String) = (-1, "")
            let clean = eventually(timeout: .seconds(10)) {
                let run = try? EbbRun(
                    ["rollback", "sweep", "--report-dir", "sweep-reports"], in: workspace.url, environment: environment)
                sweep = (run?.wait() ?? -1, (run?.stdout ?? "") + (run?.stderr ?? ""))
                return sweep.status == 0 && workspace.filesAreAsTheyWere() && workspace.processState(paused) != "T"
                    && runIDs.allSatisfy { workspace.fixtureProcesses(ofRun: $0).isEmpty }
                    && ((try? FileManager.default.contentsOfDirectory(atPath: registry.path)) ?? []).isEmpty
            }
            if !clean {
                leftovers += 1
                Issue.record(
                    """
                    trial \(trial): killed after \(Int(delay * 1000)) ms, journal deleted; sweep exited \(sweep.status): files \(workspace.filesAreAsTheyWere()), \
                    paused \(String(describing: workspace.processState(paused))), registry \((try? FileManager.default.contentsOfDirectory(atPath: registry.path)) ?? [])
                    \(sweep.output)
                    """)
            }
        }
        print(
            "torture: runner and guardian killed, journal deleted, then sweep: \(Self.trials) trials, \(leftovers) leftovers"
        )
        #expect(leftovers == 0)
    }

    /// Runner and guardian SIGKILLed together at a random moment, with no host registry and the
    /// state directory deleted: no record is left anywhere. Once the expiries marked on the
    /// targets have passed, `ebb rollback sweep` must take back every cgroup, nft table and
    /// qdisc from the marks alone. (Root: namespaces, tc and cgroups.)
    @Test(.enabled(if: geteuid() == 0, "needs root for network namespaces, tc and cgroups"))
    func killingEverythingWithNoRecordLeftIsRecoveredFromTheMarks() throws {
        var leftovers = 0
        var unmarkedEmptyGroups = 0
        for trial in 0..<Self.trials {
            let workspace = try Workspace()
            let sandbox = try NetworkSandbox()
            defer { sandbox.close() }
            let frozen = try workspace.startSleeper("\(Int.random(in: 100_000...999_999)).\(trial % 10)6")
            let throttled = try workspace.startSleeper("\(Int.random(in: 100_000...999_999)).\(trial % 10)7")
            let before = [CgroupCleanup.lines(frozen), CgroupCleanup.lines(throttled)]
            let suite = try workspace.write(
                suite: """
                    scenarios:
                      - name: marked
                        duration: 150ms
                        faults:
                          - process.freeze: { pid: \(frozen) }
                          - network.partition: { netns: \(sandbox.server), port: 8080 }
                          - process.throttle: { pid: \(throttled), percent: 20 }
                          - network.bandwidth: { netns: \(sandbox.server), interface: \(sandbox.serverInterface), rate: 8mbit }
                    """)
            let environment = ["EBB_REGISTRY_DIR": "off"]
            let delay = Double.random(in: 0...0.9)
            let run = try EbbRun(
                ["run", suite, "--deadline-grace", "300ms", "--state-dir", workspace.state.path], in: workspace.url,
                environment: environment)
            Thread.sleep(forTimeInterval: delay)  // the randomized kill point is what this test is about
            _ = Self.killTogether(run, in: workspace)
            let runIDs = workspace.runIDs()
            try? FileManager.default.removeItem(at: workspace.state)
            func remaining() -> [String] {
                var found: [String] = []
                let tables =
                    (try? ChildProcess.run(
                        ["ip", "netns", "exec", sandbox.server, "nft", "list", "tables"], timeout: .seconds(10)
                    ).output) ?? ""
                found += tables.split(separator: "\n").filter { line in runIDs.contains { line.contains("ebb_\($0)_") }
                }.map(String.init)
                let qdisc =
                    (try? ChildProcess.run(
                        [
                            "ip", "netns", "exec", sandbox.server, "tc", "qdisc", "show", "dev",
                            sandbox.serverInterface, "root",
                        ],
                        timeout: .seconds(10)
                    ).output) ?? ""
                if qdisc.contains("tbf") { found.append(qdisc) }
                found += CgroupCleanup.ebbGroups().filter { group in runIDs.contains { group.contains($0) } }
                if CgroupCleanup.lines(frozen) != before[0] || CgroupCleanup.lines(throttled) != before[1] {
                    found.append("a target not back in its cgroups")
                }
                return found
            }
            var sweep = ""
            let clean = eventually(timeout: .seconds(10)) {
                let run = try? EbbRun(
                    ["rollback", "sweep", "--report-dir", "sweep-reports"], in: workspace.url, environment: environment)
                _ = run?.wait()
                sweep = (run?.stdout ?? "") + (run?.stderr ?? "")
                return remaining().isEmpty
            }
            if !clean {
                // A kill between a group's mkdir and its mark leaves an empty group with no mark:
                // nothing in it, and nothing says it is Ebb's. Counted apart, never swept.
                let left = remaining()
                let empty = left.allSatisfy {
                    $0.hasPrefix("/sys/fs/cgroup")
                        && ((try? String(contentsOfFile: "\($0)/cgroup.procs", encoding: .utf8)) ?? "x").isEmpty
                }
                if empty {
                    unmarkedEmptyGroups += 1
                    left.forEach { _ = rmdir($0) }
                } else {
                    leftovers += 1
                    Issue.record(
                        "trial \(trial): killed after \(Int(delay * 1000)) ms, no record left; still there: \(left)\n\(sweep)"
                    )
                }
            }
            for group in CgroupCleanup.ebbGroups() where runIDs.contains(where: { group.contains($0) }) {
                try? "THAWED".write(toFile: "\(group)/freezer.state", atomically: false, encoding: .utf8)
            }
        }
        print(
            "torture: runner and guardian killed, no record left, then sweep from the marks: \(Self.trials) trials, \(leftovers) leftovers, \(unmarkedEmptyGroups) empty unmarked groups"
        )
        #expect(leftovers == 0)
    }

    /// One trial's set-up: a workspace with a process to pause and the torture suite, and `ebb
    /// run` started in it; returns after a random delay, the moment to kill at.
    static func startTrial(
        _ trial: Int, tag: Int, arguments: [String] = [], environment: [String: String]? = nil
    ) throws
        -> (workspace: Workspace, paused: Int32, run: EbbRun, delay: Double)
    {
        let workspace = try Workspace()
        let pauseMarker = "\(Int.random(in: 100_000...999_999)).\(trial % 10)\(tag)"
        let paused = try workspace.startSleeper(pauseMarker)
        let suite = try workspace.write(suite: suite(pauseMarker: pauseMarker))
        let delay = Double.random(in: 0...0.9)
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path] + arguments, in: workspace.url, environment: environment
        )
        Thread.sleep(forTimeInterval: delay)  // the randomized kill point is what this test is about
        return (workspace, paused, run, delay)
    }

    /// SIGKILLs the runner and its guardian together; returns the guardians' pids.
    static func killTogether(_ run: EbbRun, in workspace: Workspace) -> [Int32] {
        // Stopped first, so it cannot start a guardian between the look-up and the kill.
        run.signal(SIGSTOP)
        // A stopped runner commits nothing more: every guardian that can act is named in a run.json now.
        let guardians = guardians(of: workspace)
        guardians.forEach { kill($0, SIGKILL) }
        run.signal(SIGKILL)
        _ = run.wait()
        _ = eventually { guardians.allSatisfy { [nil, "Z"].contains(workspace.processState($0)) } }
        return guardians
    }

    /// Guardians of runs in `workspace`'s state directory: the pids their `run.json` names (a
    /// guardian waits as a fork of its runner, with the runner's command line, until it executes
    /// `ebb guardian`), still running with this workspace's paths on their command line, so a
    /// reused pid is never ended.
    static func guardians(of workspace: Workspace) -> [Int32] {
        let runs = (try? JournalReader(stateDirectory: workspace.state).runs()) ?? []
        return runs.compactMap(\.info?.guardianPID).filter { pid in
            guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return ["run", "guardian"].contains(arguments.dropFirst().first)
                && arguments.contains { $0.hasPrefix(workspace.url.path + "/") }
        }
    }

    /// No run is open without a live runner, and no record is left pending.
    func journalIsSettled(_ workspace: Workspace) -> Bool {
        guard let runs = try? JournalReader(stateDirectory: workspace.state).runs() else { return false }
        return runs.allSatisfy {
            !$0.isLive && !$0.needsRecovery && $0.info?.status != .open || ($0.records.isEmpty && !$0.isLive)
        }
    }
}
