import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .ownThread) struct ProcessFaultTests {
    @Test func pauseStopsTheTargetAndTheUndoResumesItVerified() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let sleeper = try Sleeper()
        defer { sleeper.end() }
        let plan = try harness.inject(try harness.fault("process.pause: { pid: \(sleeper.pid) }"))
        #expect(sleeper.state == "T", "the injection returns once SIGSTOP took effect")
        #expect(throws: VerificationFailure.self) { try harness.verify(plan) }
        #expect(try harness.undo(plan) == .undone)
        #expect(sleeper.state != "T")
        #expect(try harness.undo(plan) == .undone, "a second undo is harmless")
        #expect(sleeper.state != "T")
    }

    @Test func pauseRefusesATargetSomeoneElseStopped() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let sleeper = try Sleeper()
        defer { sleeper.end() }
        kill(sleeper.pid, SIGSTOP)
        #expect(eventually { sleeper.state == "T" })
        let fault = try harness.fault("process.pause: { pid: \(sleeper.pid) }")
        #expect(throws: FaultError.self) { try fault.plan(harness.context()) }
        kill(sleeper.pid, SIGCONT)
    }

    @Test func ebbNeverTargetsItselfOrItsAncestors() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        for pid in [getpid(), getppid()] where pid > 1 {
            let fault = try harness.fault("process.pause: { pid: \(pid) }")
            #expect(throws: FaultError.self) { try fault.plan(harness.context()) }
        }
    }

    @Test func aReusedPidIsNeverSignalled() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let sleeper = try Sleeper()
        defer { sleeper.end() }
        // The record names this pid with another start time: the process it meant is gone.
        let start = try require(ProcessTable.snapshot(sleeper.pid)).startTime
        let payload: JSONValue = .object([
            "targets": .array([
                .object([
                    "pid": .number(Double(sleeper.pid)), "startTime": .number(Double(start + 1)),
                    "name": .string("sleep"),
                ])
            ])
        ])
        kill(sleeper.pid, SIGSTOP)
        #expect(eventually { sleeper.state == "T" })
        let handler = try require(harness.catalog.undoHandlers["process.resume"])
        _ = try handler.undo(
            payload, harness.undoContext)
        #expect(sleeper.state == "T", "SIGCONT went nowhere: the recorded process is not this one")
        kill(sleeper.pid, SIGCONT)
    }

    @Test func killWithoutRestartIsIrreversible() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let sleeper = try Sleeper()
        defer { sleeper.end() }
        let plan = try harness.inject(try harness.fault("process.kill: { pid: \(sleeper.pid), signal: TERM }"))
        #expect(ChildProcess.wait(sleeper.pid, timeout: .seconds(5)) == 128 + SIGTERM)
        guard case .irreversible(let reason) = try harness.undo(plan) else {
            Issue.record("expected irreversible")
            return
        }
        #expect(reason.contains("no restart command"))
    }

    @Test func killWithRestartBringsTheTargetBackAndVerifiesIt() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let marker = "\(Int.random(in: 100_000...999_999)).5"
        let pidfile = harness.directory.appendingPathComponent("restarted.pid").path
        let sleeper = try Sleeper(marker)
        defer { sleeper.end() }
        let fault = try harness.fault(
            """
            process.kill: { match: "sleep \(marker)", restart: [sh, -c, "sleep \(marker) & echo $! > \(pidfile)"], restart_timeout: 5s }
            """)
        let plan = try harness.inject(fault)
        #expect(ChildProcess.wait(sleeper.pid, timeout: .seconds(5)) == 128 + SIGKILL)
        #expect(try harness.undo(plan) == .undone, "restart ran and verification found the target")
        // The restart command's shell writes the pidfile as it starts the new target.
        #expect(eventually { ((try? String(contentsOfFile: pidfile, encoding: .utf8)) ?? "").hasSuffix("\n") })
        let restarted = try require(
            Int32(try String(contentsOfFile: pidfile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(restarted, SIGKILL) }
        #expect(ProcessTable.snapshot(restarted)?.commandLine == ["sleep", marker])
        try FileManager.default.removeItem(atPath: pidfile)
        #expect(try harness.undo(plan) == .undone)
        #expect(!FileManager.default.fileExists(atPath: pidfile), "the target runs, so a second undo restarts nothing")
    }
}
