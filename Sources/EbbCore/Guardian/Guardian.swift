import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The dead-man switch (DESIGN.md invariant 6): a detached process that watches one runner.
/// When the runner dies without closing its journal, the guardian replays the pending undos
/// from the journal; while the runner lives, it reverts any fault left past its deadline.
public struct Guardian: Sendable {
    public var runDirectory: URL
    public var runnerPID: Int32
    public var runnerStartTime: UInt64?
    public var catalog: PluginCatalog
    public var logger: Logger

    public init(runDirectory: URL, runnerPID: Int32, runnerStartTime: UInt64?, catalog: PluginCatalog, logger: Logger) {
        self.runDirectory = runDirectory
        self.runnerPID = runnerPID
        self.runnerStartTime = runnerStartTime
        self.catalog = catalog
        self.logger = logger
    }

    /// How the watch ended.
    public enum Outcome: Sendable {
        /// The runner closed its journal: nothing to do.
        case runnerClosed
        /// The runner died with the run open; its faults were replayed.
        case recovered(RecoveryReport)
    }

    private var reader: JournalReader {
        JournalReader(holding: runDirectory)
    }

    /// Watches until the runner exits, reverting overdue faults meanwhile; then recovers if needed.
    public func watch() throws -> Outcome {
        let pidfd = ChildProcess.pidfdOpen(runnerPID)
        defer { if pidfd >= 0 { close(pidfd) } }
        while runnerIsAlive {
            // Sleep until the runner exits (the pidfd becomes readable) or the next deadline is due.
            let wait = min(max(revertOverdueFaults() ?? 1, 0.01), 1)
            if pidfd >= 0 {
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&entry, 1, Int32(wait * 1000))
            } else {
                Thread.sleep(forTimeInterval: min(wait, 0.05))
            }
        }
        let run = try reader.run(at: runDirectory)
        if run.info?.status == .closed && !run.needsRecovery { return .runnerClosed }
        let recovery = Recovery(stateDirectory: reader.stateDirectory, catalog: catalog, actor: "guardian", logger: logger)
        return .recovered(try recovery.execute(run))
    }

    private var runnerIsAlive: Bool {
        guard let start = runnerStartTime else { return ProcessTable.snapshot(runnerPID).map { !$0.isGone } ?? false }
        return ProcessTable.isAlive(pid: runnerPID, startTime: start)
    }

    /// A live runner that is stuck (stopped, deadlocked) must not keep a fault past its deadline:
    /// the guardian reverts it without the run's lock. Undos are idempotent, so a runner that
    /// wakes up and rolls back the same record changes nothing.
    /// Returns the seconds until the next deadline of a record still pending, if any; the
    /// journal is read once for both.
    private func revertOverdueFaults() -> Double? {
        guard let run = try? reader.run(at: runDirectory) else { return nil }
        let now = Date()
        let pending = run.records.filter { $0.state == .armed || $0.state == .injected }
        let overdue = pending.filter { $0.deadline < now }
        if !overdue.isEmpty {
            let executor = RollbackExecutor(catalog: catalog, actor: "guardian (deadline passed while the runner was alive)", logger: logger)
            _ = executor.execute(overdue, runDirectory: runDirectory) { try $0.write(into: runDirectory) }
        }
        // Overdue records have just been executed (reverted or failed): no longer pending.
        return pending.filter { $0.deadline >= now }.map { $0.deadline.timeIntervalSinceNow }.min()
    }
}

/// Starts the guardian of a run as a detached process: its own session, no terminal, output
/// to `guardian.log` in the run directory (never the CI step's pipes, which would keep the
/// step waiting).
public enum GuardianLauncher {
    public static func launch(for journal: RunJournal, reportDirectory: URL) throws -> Int32 {
        let arguments = [ChildProcess.currentExecutable, "guardian",
                         "--run-dir", journal.directory.path,
                         "--runner-pid", String(journal.info.pid),
                         "--runner-start-time", String(journal.info.pidStartTime ?? 0),
                         "--report-dir", reportDirectory.path]
        return try ChildProcess.spawn(arguments, outputPath: journal.directory.appendingPathComponent("guardian.log").path,
                                      newSession: true)
    }
}
