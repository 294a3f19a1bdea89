import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `ebb` binary as a user would, against real files and processes.
@Suite(.serialized, .ownThread) struct EndToEndTests {
    /// A suite with every local plugin, held long enough to be interrupted.
    /// The paused target is not a child of ebb: a stopped child would get SIGHUP from the kernel
    /// when the runner dies (its process group becomes orphaned), hiding what recovery does.
    static func everyPluginSuite(hold: String, marker: String, pauseMarker: String, pidfile: String) -> String {
        """
        suite: e2e
        allowed_roots: [files]
        setup:
          - name: service
            command: [sleep, "300"]
        scenarios:
          - name: everything
            duration: \(hold)
            faults:
              - process.pause: { match: "sleep \(pauseMarker)" }
              - file.corrupt: { path: files/a.txt }
              - file.truncate: { path: files/b.txt }
              - file.remove: { path: files/c.txt }
              - file.replace: { path: files/d.txt, content: broken }
              - disk.fill: { path: files, size: 8M }
              - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag], verify: [sh, -c, "! test -e files/flag"] }
              - process.kill: { match: "sleep \(marker)", restart: [sh, -c, "setsid sleep \(marker) & echo $! > \(pidfile)"], restart_timeout: 10s }
          - name: never-reached
            duration: 1s
            faults:
              - command: { inject: [true], rollback: [true] }
        """
    }

    @Test func aNormalRunLeavesEveryTargetAsItWas() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                suite: normal
                allowed_roots: [files]
                setup:
                  - name: service
                    command: [sleep, "300"]
                scenarios:
                  - name: files
                    duration: 100ms
                    faults:
                      - file.corrupt: { path: files/a.txt }
                      - file.remove: { path: files/c.txt }
                  - name: pause
                    duration: 100ms
                    faults:
                      - process.pause: { fixture: service }
                """)
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("<testcase name=\"rollback: file.corrupt\" classname=\"ebb.normal.files.rollback\""))
        #expect(junit.contains("[[ATTACHMENT|reports/logs/files.log]]"))
        #expect(stdout.contains("Exit 0: every scenario passed"))
        #expect(workspace.filesAreAsTheyWere())
        let run = try unwrap(workspace.runIDs().first)
        #expect(workspace.fixtureProcesses(ofRun: run).isEmpty, "the fixture was stopped")
        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("run \(run)  closed"))
        #expect(list.stdout.components(separatedBy: " reverted ").count - 1 == 4, "three faults and the fixture")
    }

    @Test func aFixtureIsReadyWhenItsReadyCommandSucceeds() throws {
        let workspace = try Workspace()
        // The fixture says it is ready by creating a file a moment after it starts; the runner
        // must hold the scenario until `test -f` finds it, and fail setup when it never appears.
        let suite = try workspace.write(
            suite: """
                suite: ready
                setup:
                  - name: slow
                    command: [sh, -c, "sleep 0.5; touch ready-\(getpid()); exec sleep 300"]
                    ready: { command: [test, -f, ready-\(getpid())], timeout: 20s }
                scenarios:
                  - name: pause
                    duration: 100ms
                    faults:
                      - process.pause: { fixture: slow }
                """)
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(status == 0, "\(stdout)\n\(stderr)")
        let never = try workspace.write(
            suite: """
                suite: never
                setup:
                  - name: never
                    command: [sleep, "300"]
                    ready: { command: [sh, -c, "echo not yet; exit 3"], timeout: 1s }
                scenarios:
                  - name: pause
                    duration: 100ms
                    faults:
                      - process.pause: { fixture: never }
                """, name: "never.yaml")
        let failed = try EbbRun.run(["run", never, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("was not ready within 1s (sh exited with status 3: not yet)"), "\(junit)")
    }

    /// A fixture's process that cleared its environment (`env -i`, as `sudo` does) carries no
    /// marker. One that also ignored SIGTERM outlived its marked leader, and the fixture was
    /// recorded stopped while it ran: the undo now ends the fixture's whole process group.
    @Test func aFixtureProcessWithoutItsMarkerThatIgnoresSIGTERMIsEndedWithItsGroup() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                suite: unmarked
                setup:
                  - name: service
                    command: [sh, -c, "env -i sh -c 'trap \\"\\" TERM; echo $$ > inner.pid; exec sleep 301' & wait"]
                    ready: { command: [test, -s, inner.pid], timeout: 20s }
                scenarios:
                  - name: quick
                    duration: 10ms
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """)
        let (status, stdout, stderr) = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        let text = try String(contentsOf: workspace.url.appendingPathComponent("inner.pid"), encoding: .utf8)
        let pid = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Ended here, by pid and start time, should the run have left it.
        if let started = ProcessTable.stat(pid)?.startTime {
            defer { if ProcessTable.isAlive(pid: pid, startTime: started) { kill(pid, SIGKILL) } }
            #expect(!ProcessTable.isAlive(pid: pid, startTime: started), "the unmarked process outlived its fixture")
        }
        #expect(status == 0, "\(stdout)\n\(stderr)")
    }

    /// `ebb run` is parsed by its own parser first (faster); a usage error must still read as
    /// the root's parser writes it, naming the command as typed, and exit 3.
    @Test func aUsageErrorOfRunNamesTheCommandAsTypedAndExitsThree() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: "scenarios: []")
        let run = try EbbRun.run(["run", suite, "--forks", "0"], in: workspace.url)
        #expect(run.status == 3)
        #expect(run.stderr.contains("Error: --forks 0: must be at least 1"), "\(run.stderr)")
        #expect(run.stderr.contains("Usage: ebb run [<options>] <suites> ..."), "\(run.stderr)")
        let help = try EbbRun.run(["run", "--help"], in: workspace.url)
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: ebb run [<options>] <suites> ..."), "\(help.stdout)")
        // The fast parser skips the completion-script check; the request still reaches the root's.
        let completion = try EbbRun.run(["run", "--generate-completion-script", "bash"], in: workspace.url)
        #expect(completion.status == 0)
        #expect(completion.stdout.contains("_ebb_run()"), "\(completion.stdout.prefix(500))")
    }

    @Test func aTypoInAKeyIsReportedWithItsPositionAndNothingIsInjected() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: typo
                    durration: 1s
                    faults:
                      - file.remove: { path: files/a.txt }
                """)
        let validate = try EbbRun.run(["validate", suite], in: workspace.url)
        #expect(validate.status == 3)
        #expect(
            validate.stderr.contains(
                "\(suite):4:5: error: scenarios[0].durration: unknown key 'durration'; did you mean 'duration'?"))
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.status == 3)
        #expect(workspace.filesAreAsTheyWere())
        #expect(!FileManager.default.fileExists(atPath: workspace.state.path), "no journal: nothing was even armed")
    }

    @Test(arguments: [(SIGTERM, Int32(143)), (SIGINT, Int32(130)), (SIGHUP, Int32(129))])
    func aSignalDuringTheHoldRestoresEverything(signal: Int32, expected: Int32) throws {
        let workspace = try Workspace()
        let marker = "\(Int.random(in: 100_000...999_999)).\(signal)"
        let pidfile = workspace.url.appendingPathComponent("restarted.pid").path
        let target = try workspace.startSleeper(marker)
        let pauseMarker = "\(Int.random(in: 100_000...999_999)).8"
        let paused = try workspace.startSleeper(pauseMarker)
        let suite = try workspace.write(
            suite: Self.everyPluginSuite(hold: "5m", marker: marker, pauseMarker: pauseMarker, pidfile: pidfile))
        let stepSummary = workspace.url.appendingPathComponent("step-summary.md").path
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path, "--report-dir", "reports"], in: workspace.url,
            environment: ["GITHUB_STEP_SUMMARY": stepSummary])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.content("a.txt") != workspace.originals["a.txt"], "the faults are live during the hold")
        #expect(workspace.processState(paused) == "T")
        run.signal(signal)
        run.signal(signal)  // a second signal must not cut the rollback short
        #expect(run.wait() == expected, "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.filesAreAsTheyWere())
        #expect(workspace.processState(paused) == "S", "the paused target runs again")
        #expect(
            workspace.processState(target) == nil || workspace.processState(target) == "Z", "the kill target was killed"
        )
        let restarted = workspace.sleepers(marker)
        restarted.forEach(workspace.adopt)
        #expect(restarted.count == 1, "the restart command brought the target back")
        let runID = try unwrap(workspace.runIDs().first)
        #expect(workspace.fixtureProcesses(ofRun: runID).isEmpty)
        #expect(run.stdout.contains("Faults:    8 reverted, 0 failed to revert, 0 irreversible"))

        // The reports tell the truth about the interrupted run.
        #expect(try validateJUnit("reports/junit.xml", in: workspace.url) == [])
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("<property name=\"interrupted\" value=\"true\"/>"))
        let summary =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.json")))
            as? [String: Any]
        #expect(summary?["exitCode"] as? Int == Int(expected))
        #expect((summary?["totals"] as? [String: Int])?["reverted"] == 9, "eight faults and the fixture")
        let outcomes = (summary?["scenarios"] as? [[String: Any]])?.map { "\($0["name"]!)=\($0["outcome"]!)" }
        #expect(outcomes == ["everything=interrupted", "never-reached=not-run"])
        let markdown = try String(contentsOfFile: stepSummary, encoding: .utf8)
        #expect(markdown.contains("## Ebb rollback summary: run `\(runID)` - all faults taken back"))
        #expect(markdown.contains("```mermaid\ngantt\n    title e2e / everything\n"))
        #expect(
            FileManager.default.fileExists(
                atPath: workspace.url.appendingPathComponent("reports/logs/everything.log").path))
        let page = try String(contentsOf: workspace.url.appendingPathComponent("reports/report.html"), encoding: .utf8)
        #expect(page.contains("<strong>Exit \(expected)</strong>") && page.contains("(interrupted by SIG"))
        #expect(page.components(separatedBy: "class=\"lane lane-fault\"").count - 1 == 8)
    }

    @Test func afterSIGKILLRollbackExecuteRestoresEveryPluginsTarget() throws {
        let workspace = try Workspace()
        let marker = "\(Int.random(in: 100_000...999_999)).9"
        let pidfile = workspace.url.appendingPathComponent("restarted.pid").path
        let target = try workspace.startSleeper(marker)
        let pauseMarker = "\(Int.random(in: 100_000...999_999)).8"
        let paused = try workspace.startSleeper(pauseMarker)
        let suite = try workspace.write(
            suite: Self.everyPluginSuite(hold: "5m", marker: marker, pauseMarker: pauseMarker, pidfile: pidfile))
        let run = try EbbRun(["run", suite, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        let runID = try unwrap(workspace.runIDs().first)
        #expect(workspace.fixtureProcesses(ofRun: runID).count == 1, "the fixture outlived the runner")
        #expect(workspace.processState(paused) == "T", "the runner died with its target paused")
        #expect(!workspace.filesAreAsTheyWere())

        let refused = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("ebb rollback execute"))

        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("runner gone without closing"))
        #expect(list.stdout.components(separatedBy: " injected ").count - 1 == 9, "\(list.stdout)")

        let execute = try EbbRun.run(
            ["rollback", "execute", "--run", runID, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
        #expect(try validateJUnit("reports/junit-\(runID).xml", in: workspace.url) == [])
        let summary =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary-\(runID).json")))
            as? [String: Any]
        #expect(summary?["recoveredBy"] as? String == "rollback execute")
        #expect((summary?["totals"] as? [String: Int])?["reverted"] == 9)
        #expect(workspace.filesAreAsTheyWere())
        #expect(workspace.processState(paused) == "S", "the paused target runs again")
        #expect(workspace.fixtureProcesses(ofRun: runID).isEmpty, "the fixture was stopped from the journal alone")
        #expect(workspace.processState(target) == nil || workspace.processState(target) == "Z")
        let restarted = workspace.sleepers(marker)
        restarted.forEach(workspace.adopt)
        #expect(restarted.count == 1)

        let again = try EbbRun.run(
            ["rollback", "execute", "--run", runID, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing pending"))
        #expect(workspace.filesAreAsTheyWere())
        #expect(workspace.sleepers(marker).count == 1, "executing twice restarted nothing")
        let after = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(after.stdout.contains("run \(runID)  crashed-recovered"))
    }

    @Test func runWithRecoverExecutesTheDeadRunFirst() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.truncate: { path: files/b.txt }
                """)
        let run = try EbbRun(["run", suite, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(workspace.content("b.txt") == "")
        let quick = try workspace.write(
            quickSuiteWith: "file.corrupt: { path: files/a.txt }", name: "quick.yaml")
        let recovered = try EbbRun.run(
            ["run", quick, "--recover", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovered.status == 0, "\(recovered.stdout)\n\(recovered.stderr)")
        #expect(recovered.stdout.contains("reverted      hold / file.truncate"))
        #expect(workspace.filesAreAsTheyWere())
    }

    @Test func aFailingUndoGivesExit2AndTheOtherUndosStillRun() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: stuck
                    duration: 10ms
                    faults:
                      - file.corrupt: { path: files/a.txt }
                      - command: { inject: [true], rollback: [sh, -c, "echo cannot undo >&2; exit 1"] }
                      - file.truncate: { path: files/b.txt }
                """)
        let run = try EbbRun.run(
            ["run", suite, "--state-dir", workspace.state.path, "--junit-flavor", "ant"], in: workspace.url)
        #expect(run.status == 2, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("NOT REVERTED: stuck / command"))
        #expect(try validateJUnit("reports/junit.xml", flavor: "ant", in: workspace.url) == [])
        let junit = try String(contentsOf: workspace.url.appendingPathComponent("reports/junit.xml"), encoding: .utf8)
        #expect(junit.contains("<testcase name=\"rollback: command\" classname=\"ebb.suite.stuck.rollback\""))
        #expect(junit.contains("<failure"), "the failed rollback is a failure of its own testcase")
        #expect(workspace.filesAreAsTheyWere(), "the undos before and after the failing one ran")
        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("revert-failed"))
        #expect(list.stdout.contains("exited with status 1"))
    }

    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr")))
    func anUndoBlockedByAnImmutableFileIsARollbackFailure() throws {
        let workspace = try Workspace()
        let path = workspace.files.appendingPathComponent("a.txt").path
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: immutable
                    duration: 5m
                    faults:
                      - file.corrupt: { path: files/b.txt }
                      - file.truncate: { path: files/a.txt }
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        defer {
            _ = try? Process.run(URL(fileURLWithPath: "/usr/bin/chattr"), arguments: ["-i", path]).waitUntilExit()
        }
        let chattr = try Process.run(URL(fileURLWithPath: "/usr/bin/chattr"), arguments: ["+i", path])
        chattr.waitUntilExit()
        try #require(chattr.terminationStatus == 0)
        run.signal(SIGTERM)
        #expect(run.wait() == 2, "2 wins over 143")
        #expect(workspace.content("a.txt") == "", "the immutable file could not be restored")
        #expect(workspace.content("b.txt") == workspace.originals["b.txt"], "the other undo still ran")
        #expect(run.stdout.contains("NOT REVERTED: immutable / file.truncate"))
    }

    @Test func aCorruptedRecordIsReportedAndTheRestStillRecover() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.truncate: { path: files/a.txt }
                      - file.truncate: { path: files/b.txt }
                        name: second
                """)
        let run = try EbbRun(["run", suite, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        run.signal(SIGKILL)
        _ = run.wait()
        let runID = try unwrap(workspace.runIDs().first)
        let directory = try workspace.runDirectory(runID)
        let record = try unwrap(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).first {
                $0.hasSuffix("-hold-second.json")
            })
        try Data("{\"runID\": \"trunc".utf8).write(to: directory.appendingPathComponent(record))

        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.status == 0)
        #expect(list.stdout.contains("DAMAGED RECORD \(directory.appendingPathComponent(record).path)"))
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 2)
        #expect(try validateJUnit("reports/junit-\(runID).xml", in: workspace.url) == [])
        #expect(execute.stdout.contains("DAMAGED RECORD"))
        #expect(workspace.content("a.txt") == workspace.originals["a.txt"], "the readable record was still executed")
        #expect(workspace.content("b.txt") == "", "the damaged record's fault is left for a person, and said so")
    }

    @Test func dryRunPrintsEachFaultAndItsUndoAndTouchesNothing() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: plan
                    duration: 1s
                    faults:
                      - file.remove: { path: files/a.txt }
                """)
        let run = try EbbRun.run(["run", suite, "--dry-run", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.status == 0)
        #expect(run.stdout.contains("undo:   file.restore: restore \(workspace.files.path)/a.txt"))
        #expect(workspace.filesAreAsTheyWere())
        #expect(!FileManager.default.fileExists(atPath: workspace.state.path))
    }
}
