import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A run's guardian starts with its journal: its pid is in the first `run.json`, and a guardian
/// that cannot start leaves no run behind.
@Suite(.ownThread) struct GuardianLauncherTests {
    /// `/bin/echo` stands in for ebb: what it prints is the guardian's command line, in its log.
    @Test func theGuardianIsStartedBeforeTheFirstRunJSONAndLogsIntoTheRunDirectory() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var launcher = GuardianLauncher(
            reportDirectory: scratch.url.appendingPathComponent("reports"), rollbackBudget: .seconds(7))
        launcher.executable = "/bin/echo"
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [], guardian: launcher)
        defer { _ = try? journal.close() }
        let pid = try #require(journal.info.guardianPID)
        #expect(ChildProcess.wait(pid, timeout: .seconds(10)) == 0)

        let onDisk = try JSONDecoder.journal.decode(
            RunInfo.self, from: Data(contentsOf: journal.directory.appendingPathComponent("run.json")))
        #expect(onDisk.guardianPID == pid, "the pid is in the run.json written before the run was committed")
        let log = try String(contentsOf: journal.directory.appendingPathComponent("guardian.log"), encoding: .utf8)
        #expect(
            log.trimmingCharacters(in: .whitespacesAndNewlines)
                == "guardian --rollback-timeout 7000ms --run-dir \(journal.directory.path) --runner-pid \(getpid()) "
                + "--runner-start-time \(journal.info.pidStartTime ?? 0) --report-dir \(scratch.url.path)/reports")
    }

    @Test func aGuardianThatCannotStartLeavesNoRunAndNoRegistryCopyBehind() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        var launcher = GuardianLauncher()
        launcher.executable = scratch.url.appendingPathComponent("no-such-ebb").path
        #expect(throws: GuardianLauncher.Failure.self) {
            try RunJournal.create(stateDirectory: scratch.url, suites: [], registry: registry, guardian: launcher)
        }
        let runs = scratch.url.appendingPathComponent("rollback").path
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs) == [])
        #expect(try registry.runs() == [])
    }

    /// A fork is safe only in a process with one thread: a copy of a lock another thread held
    /// stays locked for ever in the child. This test process has several.
    @Test func aProcessWithThreadsForksNoWaitingGuardian() {
        #expect(PreforkedGuardian.fork() == nil)
    }
}
