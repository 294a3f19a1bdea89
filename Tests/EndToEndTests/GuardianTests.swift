import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The dead-man switch: faults are taken back with no human action when the runner dies or
/// is stuck past a deadline.
@Suite(.serialized, .ownThread) struct GuardianTests {
    func runInfo(_ workspace: Workspace, _ runID: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try workspace.runDirectory(runID).appendingPathComponent("run.json"))
        return try unwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func record(_ workspace: Workspace, _ runID: String, suffix: String) throws -> [String: Any] {
        let directory = try workspace.runDirectory(runID)
        let name = try unwrap(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix(suffix) })
        return try unwrap(try recordObject(inFile: directory.appendingPathComponent(name)))
    }

    @Test func afterSIGKILLTheGuardianRevertsEveryPluginsFaultWithNoHumanAction() throws {
        let workspace = try Workspace()
        let marker = "\(Int.random(in: 100_000...999_999)).7"
        let pauseMarker = "\(Int.random(in: 100_000...999_999)).6"
        let target = try workspace.startSleeper(marker)
        let paused = try workspace.startSleeper(pauseMarker)
        let pidfile = workspace.url.appendingPathComponent("restarted.pid").path
        let suite = try workspace.write(
            suite: EndToEndTests.everyPluginSuite(
                hold: "5m", marker: marker, pauseMarker: pauseMarker, pidfile: pidfile))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        let runID = try unwrap(workspace.runIDs().first)
        #expect(workspace.processState(paused) == "T")
        run.signal(SIGKILL)
        #expect(run.wait() == 137)

        #expect(
            eventually { workspace.filesAreAsTheyWere() && workspace.processState(paused) == "S" },
            "the guardian restored files and resumed the target")
        #expect(eventually { (try? runInfo(workspace, runID)["status"] as? String) == "crashed-recovered" })
        #expect(try runInfo(workspace, runID)["recoveredBy"] as? String == "guardian")
        #expect(workspace.fixtureProcesses(ofRun: runID).isEmpty)
        #expect(workspace.processState(target) == nil || workspace.processState(target) == "Z")
        let restarted = workspace.sleepers(marker)
        restarted.forEach(workspace.adopt)
        #expect(restarted.count == 1)
        #expect(
            eventually {
                FileManager.default.fileExists(
                    atPath: workspace.url.appendingPathComponent("reports/rollback-summary-\(runID).md").path)
            })
        #expect(try validateJUnit("reports/junit-\(runID).xml", in: workspace.url) == [])
        // The crash report has its page too: one fault lane per record the guardian took back.
        let page = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/report-\(runID).html"), encoding: .utf8)
        #expect(
            page.components(separatedBy: "class=\"lane lane-fault\"").count - 1 == 9, "eight faults and the fixture")
        #expect(page.contains("guardian"))
        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("recovered by guardian"))
    }

    /// A command the runner started can outlive it: an inject still running when the runner is
    /// SIGKILLed must not act after the guardian's undo. The guardian waits for it (5 s), then
    /// ends it, and only then takes the fault back.
    @Test(arguments: [("sleep 1", "finishes while the guardian waits"), ("sleep 30", "is ended by the guardian")])
    func anInjectStillRunningWhenTheRunnerDiesNeverActsAfterTheUndo(pause: String, fate: String) throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: slow-inject
                    duration: 5m
                    faults:
                      - command:
                          inject: [sh, -c, "touch files/started; \(pause); touch files/flag"]
                          rollback: [rm, -f, files/flag]
                          verify: [sh, -c, "! test -e files/flag"]
                          timeout: 1m
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        let started = workspace.files.appendingPathComponent("started").path
        #expect(
            eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: started) },
            "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(
            eventually(timeout: .seconds(20)) {
                (try? runInfo(workspace, runID)["status"] as? String) == "crashed-recovered"
            })
        // Recovered: the inject has finished or was ended, so nothing of the run acts any more.
        #expect(processesActing(for: runID).isEmpty, "the inject \(fate)")
        // (Without that wait, the inject would still be running: wait for it before judging.)
        #expect(eventually(timeout: .seconds(40)) { processesActing(for: runID).isEmpty })
        #expect(
            !FileManager.default.fileExists(atPath: workspace.files.appendingPathComponent("flag").path),
            "the inject acted after the undo")
    }

    /// Processes whose environment says they act for `runID`.
    func processesActing(for runID: String) -> [Int32] {
        let needle = Data("EBB_ACTING_FOR=\(runID)".utf8)
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.filter { pid in
            guard let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else {
                return false
            }
            return environ.split(separator: 0).contains { $0.elementsEqual(needle) }
        }
    }

    @Test func aRunWhoseGuardianWasKilledTooIsRecoveredByRollbackExecute() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.truncate: { path: files/a.txt }
                      - file.remove: { path: files/b.txt }
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        let runID = try unwrap(workspace.runIDs().first)
        let guardian = try unwrap(try runInfo(workspace, runID)["guardianPID"] as? Int)
        kill(Int32(guardian), SIGKILL)
        #expect(
            eventually { [nil, "Z"].contains(workspace.processState(Int32(guardian))) },
            "the guardian is dead (a zombie until the runner reaps it)")
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(!workspace.filesAreAsTheyWere(), "nobody took the faults back")
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
        #expect(workspace.filesAreAsTheyWere())
    }

    @Test func aGraceTooShortOrTooLongIsRefusedBeforeAnythingActs() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 300ms
                    faults:
                      - file.truncate: { path: files/a.txt }
                """)
        for grace in ["10ms", "25h", "soon"] {
            let run = try EbbRun.run(
                ["run", suite, "--deadline-grace", grace, "--state-dir", workspace.state.path], in: workspace.url)
            #expect(run.status == 3, "\(grace): \(run.stderr)")
            #expect(run.stderr.contains("--deadline-grace"), "\(run.stderr)")
        }
        #expect(workspace.runIDs().isEmpty, "no run started")
        #expect(workspace.filesAreAsTheyWere())
    }

    @Test func aStoppedRunnerDoesNotKeepAFaultPastItsDeadline() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 300ms
                    faults:
                      - file.truncate: { path: files/a.txt }
                """)
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "300ms", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        run.signal(SIGSTOP)
        defer { run.signal(SIGKILL) }
        let runID = try unwrap(workspace.runIDs().first)
        #expect(
            eventually(timeout: .seconds(10)) {
                (try? record(workspace, runID, suffix: "-hold-file.truncate.json")["state"] as? String) == "reverted"
            }, "the guardian reverted the overdue fault")
        #expect(workspace.filesAreAsTheyWere())
        let reverted = try record(workspace, runID, suffix: "-hold-file.truncate.json")
        #expect((reverted["revertedBy"] as? String)?.contains("deadline") == true)
        run.signal(SIGCONT)
        #expect(
            run.wait() == 1,
            "the runner wakes up, finds the fault reverted by the guardian, and fails the scenario: its hold was cut short"
        )
        #expect(workspace.filesAreAsTheyWere())
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("name=\"deadline: file.truncate\""))
        #expect(junit.contains("the guardian reverted file.truncate"))
        let summary = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.md"), encoding: .utf8)
        #expect(summary.contains("deadline: file.truncate"))
    }

    /// A long steady-state phase before injection must not eat into the hold: the deadline counts
    /// from the injection. (It counted from preflight: with checks sampling for seconds first, the
    /// guardian reverted the fault mid-hold while the runner was healthy, and the run said ok.)
    @Test func aSlowSteadyStateDoesNotShortenTheHold() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                checks:
                  - name: slow-steady-state
                    command: { run: ["true"] }
                    interval: 1s
                    before_samples: 3
                    phases: [before]
                scenarios:
                  - name: hold
                    duration: 3s
                    faults:
                      - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag], verify: [test, '!', -e, files/flag] }
                """)
        let run = try EbbRun(
            ["run", suite, "--deadline-grace", "1500ms", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        let record = try record(workspace, runID, suffix: "-hold-command.json")
        #expect(
            record["revertedBy"] as? String == "runner",
            "the runner, not the guardian, took the fault back after its full hold")
        let injectedAt = try unwrap(parseDate(record["injectedAt"] as? String))
        let finishedAt = try unwrap(parseDate(record["finishedAt"] as? String))
        #expect(finishedAt.timeIntervalSince(injectedAt) >= 3, "the fault stayed for its whole 3 s hold")
    }

    /// The guardian is forked as `ebb run` starts and waits: it must already be out of the CI
    /// step's reach (its own session, none of the step's descriptors), or a cancelled step would
    /// kill it with the runner, and a step would wait for its output to close until it exits.
    @Test func theWaitingGuardianHasItsOwnSessionAndNoneOfTheStepsDescriptors() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.truncate: { path: files/a.txt }
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        defer { run.signal(SIGKILL) }
        #expect(run.waitForOutput("holding for"))
        let runID = try unwrap(workspace.runIDs().first)
        let guardian = Int32(try unwrap(try runInfo(workspace, runID)["guardianPID"] as? Int))
        let stat = try String(contentsOfFile: "/proc/\(guardian)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try unwrap(stat.lastIndex(of: ")")))...].split(separator: " ")
        #expect(fields[3] == "\(guardian)", "it leads a session of its own")
        #expect(fields[2] == "\(guardian)", "and a process group of its own")
        let log = try workspace.runDirectory(runID).appendingPathComponent("guardian.log").path
        for descriptor in 0...2 {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(guardian)/fd/\(descriptor)")
            #expect(["/dev/null", log].contains(target), "descriptor \(descriptor) is \(target)")
        }
        run.signal(SIGTERM)
        #expect(run.wait() == 143)
        #expect(workspace.filesAreAsTheyWere())
    }

    /// A runner started with standard input closed gets its guardian's pipe on descriptor 0;
    /// the waiting guardian must move it before it puts /dev/null there, or it never hears of its run.
    @Test func aRunnerStartedWithoutStandardInputStillHasAGuardian() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.truncate: { path: files/a.txt }
                """)
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url, closingStandardInput: true)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(eventually { workspace.filesAreAsTheyWere() }, "the guardian restored the file")
        #expect(eventually { (try? runInfo(workspace, runID)["status"] as? String) == "crashed-recovered" })
    }

    /// A run that closes settled before its guardian's quiet period is over never starts
    /// `ebb guardian`: the waiting process leaves as soon as the runner closes its journal,
    /// without writing anything, so nothing is written into the state folder after the runner
    /// has exited (a job's `rm -rf` of it right after the run raced with the guardian's log and
    /// failed), and no start-up is paid for nothing.
    @Test func aRunClosedSettledEndsItsGuardianWithoutStartingIt() throws {
        let workspace = try Workspace()
        let run = try runQuickly("file.corrupt: { path: files/a.txt }", in: workspace)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        let guardian = Int32(try unwrap(try runInfo(workspace, runID)["guardianPID"] as? Int))
        #expect(eventually { [nil, "Z"].contains(workspace.processState(guardian)) })
        #expect(try runInfo(workspace, runID)["status"] as? String == "closed")
        let log = try workspace.runDirectory(runID).appendingPathComponent("guardian.log").path
        // The quiet period is a second (the default grace is 30 s): the run closes well within it.
        #expect(
            !FileManager.default.fileExists(atPath: log),
            "ebb guardian was executed; run.json: \(String(describing: try? runInfo(workspace, runID)))")
    }

    /// A run that closes with a fault it could not revert is not settled: its guardian must
    /// still start and try the undo again, however soon the runner closed.
    @Test func aRunClosedWithAFaultNotRevertedStillGetsItsGuardian() throws {
        let workspace = try Workspace()
        let run = try runQuickly(
            #"command: { inject: [true], rollback: [sh, -c, "echo cannot undo >&2; exit 1"] }"#, in: workspace)
        #expect(run.status == 2, "\(run.stdout)\n\(run.stderr)")
        let log = try workspace.runDirectory(try unwrap(workspace.runIDs().first))
            .appendingPathComponent("guardian.log").path
        #expect(
            eventually(timeout: .seconds(20)) {
                (try? String(contentsOfFile: log, encoding: .utf8))?.contains("quick / command") == true
            }, "the guardian tried the undo again")
    }

    /// `rm -rf` of the state folder as a run exits can remove `run.json` and the lock before the
    /// guardian looks. The guardian must then leave the folder alone: recovering it would write
    /// `run.json` and the lock back, `rm` would fail, and the next run would refuse to start.
    @Test func aGuardianWhoseRunFolderIsBeingRemovedWritesNothingBackIntoIt() throws {
        let workspace = try Workspace()
        let run = try runQuickly("command: { inject: [true], rollback: [true] }", in: workspace, ["--no-guardian"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let directory = try workspace.runDirectory(try unwrap(workspace.runIDs().first))
        for name in ["run.json", "lock"] {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        // A runner that is gone: a pid with a start time no process of this machine has.
        let guardian = try EbbRun.run(
            [
                "guardian", "--run-dir", directory.path, "--runner-pid", "\(getpid())", "--runner-start-time", "1",
                "--report-dir", workspace.url.appendingPathComponent("reports").path,
            ], in: workspace.url)
        #expect(guardian.status == 0, "\(guardian.stdout)\n\(guardian.stderr)")
        #expect(guardian.stdout.contains("is being removed"), "\(guardian.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == left)
    }

    /// `rm -rf` of the state folder as its runner dies can take a pending record's file, then
    /// `run.json`, before the guardian looks: the registry copy is then the record's last name.
    /// The guardian recovers the record from there, and still writes nothing into the folder.
    @Test func aGuardianWhoseRunFolderIsBeingRemovedRecoversWhatOnlyTheRegistryCopyHolds() throws {
        let workspace = try Workspace()
        let registry = workspace.url.appendingPathComponent("registry")
        let environment = ["EBB_REGISTRY_DIR": registry.path]
        let flag = workspace.url.appendingPathComponent("flag").path
        // The undo fails until `allow` exists: the run ends with its record still pending.
        let suite = try workspace.write(
            quickSuiteWith: #"command: { inject: [touch, flag], rollback: [sh, -c, "test -e allow && rm -f flag"] }"#)
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path, "--no-guardian"], in: workspace.url,
            environment: environment)
        #expect(run.wait() == 2, "\(run.stdout)\n\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: flag))
        let directory = try workspace.runDirectory(try unwrap(workspace.runIDs().first))
        let records = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".json") && $0 != "run.json"
        }
        #expect(records.count == 1)
        for name in records + ["run.json", "lock"] {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        try Data().write(to: workspace.url.appendingPathComponent("allow"))
        // A runner that is gone: a pid with a start time no process of this machine has.
        let guardian = try EbbRun(
            [
                "guardian", "--run-dir", directory.path, "--runner-pid", "\(getpid())", "--runner-start-time", "1",
                "--report-dir", workspace.url.appendingPathComponent("reports").path,
            ], in: workspace.url, environment: environment)
        #expect(guardian.wait() == 0, "\(guardian.stdout)\n\(guardian.stderr)")
        #expect(!FileManager.default.fileExists(atPath: flag), "the guardian took the fault back")
        #expect(!guardian.stdout.contains("is being removed"), "\(guardian.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == left)
        let copied = registry.appendingPathComponent(directory.lastPathComponent).appendingPathComponent("run.json")
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: copied)) as? [String: Any]
        #expect(info?["settled"] as? Bool == true, "\(String(describing: info))")
    }

    /// Runs, to its end, a suite of one 10 ms scenario, `quick`, with the one `fault` given.
    private func runQuickly(
        _ fault: String, in workspace: Workspace, _ extra: [String] = []
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let suite = try workspace.write(quickSuiteWith: fault)
        return try EbbRun.run(["run", suite, "--state-dir", workspace.state.path] + extra, in: workspace.url)
    }
}

func parseDate(_ text: String?) -> Date? {
    text.flatMap { try? Date($0, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
}

/// Waits until `condition` holds, re-checking every 10 ms, for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}
