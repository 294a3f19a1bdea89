import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Processes no selector may ever pick (PID 1, kernel threads, Ebb's runners and guardians),
/// and `process.restart` starting a target exactly once.
@Suite(.serialized, .ownThread) struct ProcessTargetTests {
    @Test func aPidfileNamingPID1IsRefused() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let pidfile = harness.directory.appendingPathComponent("init.pid").path
        try "1\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        let fault = try harness.fault("process.pause: { pidfile: \(pidfile) }")
        #expect { try fault.plan(harness.context()) } throws: { "\($0)".contains("PID 1") }
    }

    @Test func aKernelThreadIsRefused() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        // kthreadd is pid 2 on Linux, the parent of every kernel thread; in a pid namespace
        // without it, there is no kernel thread to try.
        guard let kthreadd = ProcessTable.snapshot(2), kthreadd.commandLine.isEmpty else { return }
        let fault = try harness.fault("process.kill: { pid: 2 }")
        #expect { try fault.plan(harness.context()) } throws: { "\($0)".contains("kernel thread") }
    }

    @Test func restartStartsTheTargetExactlyOnceAcrossRepeatedUndos() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let marker = "\(Int.random(in: 100_000...999_999)).7"
        let count = harness.directory.appendingPathComponent("starts").path
        let gate = harness.directory.appendingPathComponent("gate").path
        let sleeper = try Sleeper(marker)
        defer { sleeper.end() }
        // The restarted target shows up only once `gate` exists: until then, every undo sees it
        // "not running" (as a retry or the guardian would, mid-restart). `$m` keeps the script
        // itself from matching.
        let script = "echo started >> \(count); while [ ! -e \(gate) ]; do sleep 0.05; done; m=\(marker); exec sleep $m"
        let fault = try harness.fault(
            """
            process.kill: { match: "sleep \(marker)", restart: [sh, -c, "\(script)"], restart_timeout: 10s }
            """)
        let plan = try harness.inject(fault)
        #expect(ChildProcess.wait(sleeper.pid, timeout: .seconds(5)) == 128 + SIGKILL)
        let handler = try require(harness.catalog.undoHandlers[plan.undoKind])
        let context = harness.undoContext
        #expect(try handler.undo(plan.undoData, context) == .undone)
        #expect(try handler.undo(plan.undoData, context) == .undone, "the second executor finds the restart under way")
        #expect(eventually { ((try? String(contentsOfFile: count, encoding: .utf8)) ?? "").hasSuffix("\n") })
        #expect(FileManager.default.createFile(atPath: gate, contents: nil))
        try handler.verify(plan.undoData, context)
        let restarted = ProcessTable.matching("sleep \(marker)")
        defer { restarted.forEach { kill($0.pid, SIGKILL) } }
        // Every script started has passed the gate and exec'd sleep, or never started.
        #expect(eventually { ProcessTable.matching("m=\(marker)").isEmpty })
        #expect(ProcessTable.matching("sleep \(marker)").count == 1, "one restarted target")
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "started\n", "the restart command ran once")
    }

    @Test func anotherMatchingProcessDoesNotCountAsRestarted() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let marker = "\(Int.random(in: 100_000...999_999)).3"
        let target = try Sleeper(marker)
        defer { target.end() }
        // count: 1 kills the oldest match only; the younger one was there before the fault.
        #expect(eventually { ProcessTable.snapshot(target.pid)?.commandLine == ["sleep", marker] })
        // A later clock tick, so the bystander is strictly younger.
        let born = try require(ProcessTable.snapshot(target.pid)).startTime
        #expect(eventually { ticksSinceBoot() > born })
        let bystander = try Sleeper(marker)
        defer { bystander.end() }
        // Preflight in a later tick than the bystander's start, as a real hold would be.
        let bystanderBorn = try require(ProcessTable.snapshot(bystander.pid)).startTime
        #expect(eventually { ticksSinceBoot() > bystanderBorn })
        let fault = try harness.fault(
            """
            process.kill: { match: "sleep \(marker)", restart: [sh, -c, "exit 0"], restart_timeout: 1s }
            """)
        let plan = try harness.inject(fault)
        #expect(ChildProcess.wait(target.pid, timeout: .seconds(5)) == 128 + SIGKILL)
        #expect(ProcessTable.snapshot(bystander.pid)?.isGone == false)
        #expect(throws: (any Error).self, "the restart started nothing; the bystander is not the target back") {
            _ = try harness.undo(plan)
        }
    }

    @Test func aRestartWrapperThatMatchesButStartsNothingIsNotTheTargetBack() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let marker = "\(Int.random(in: 100_000...999_999)).5"
        let target = try Sleeper(marker)
        defer { target.end() }
        // The wrapper's own command line matches the selector, and it carries the restart's
        // marker, for the 150 ms it runs; the service it should start never comes up.
        let fault = try harness.fault(
            """
            process.kill: { match: "sleep \(marker)", restart: [sh, -c, "sleep 0.15; : sleep \(marker)"], restart_timeout: 1s }
            """)
        let plan = try harness.inject(fault)
        #expect(ChildProcess.wait(target.pid, timeout: .seconds(5)) == 128 + SIGKILL)
        let error = #expect(throws: VerificationFailure.self, "a wrapper seen for a moment is not the target back") {
            _ = try harness.undo(plan)
        }
        #expect(
            "\(error.map { "\($0)" } ?? "")".contains("is not running 1.0s after the restart"),
            "\(String(describing: error))")
    }
}

/// Clock ticks since boot, the unit of a process's start time in /proc.
func ticksSinceBoot() -> UInt64 {
    let text = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8)) ?? ""
    let seconds = Double(text.split(separator: " ").first ?? "") ?? 0
    return UInt64(seconds * Double(sysconf(Int32(_SC_CLK_TCK))))
}
