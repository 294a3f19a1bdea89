import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The dead-man switch (ARCHITECTURE.md invariant 8): a detached process that watches one runner.
/// When the runner dies without closing its journal, the guardian replays the pending undos
/// from the journal; while the runner lives, it reverts any fault left past its deadline.
public struct Guardian: Sendable {
    public var runDirectory: URL
    public var runnerPID: Int32
    public var runnerStartTime: UInt64?
    public var catalog: PluginCatalog
    public var logger: Logger
    /// The time budget of each rollback the guardian runs (`--rollback-timeout` of the run).
    public var rollbackBudget: Duration
    /// How often a record whose undo failed at its deadline is tried again while the runner lives.
    public var retryInterval: Duration = .seconds(5)

    /// Recorded as `revertedBy` when the guardian reverts a fault past its deadline while the
    /// runner is alive; the runner reports such a fault as a failed step of its scenario.
    public static let deadlineActor = "guardian (deadline passed while the runner was alive)"

    public init(
        runDirectory: URL, runnerPID: Int32, runnerStartTime: UInt64?, catalog: PluginCatalog, logger: Logger,
        rollbackBudget: Duration = RollbackExecutor.defaultBudget
    ) {
        self.runDirectory = runDirectory
        self.runnerPID = runnerPID
        self.runnerStartTime = runnerStartTime
        self.catalog = catalog
        self.logger = logger
        self.rollbackBudget = rollbackBudget
    }

    /// How the watch ended.
    public enum Outcome: Sendable {
        /// The runner closed its journal: nothing to do.
        case runnerClosed
        /// The run's folder is being removed (its `run.json` is gone and nothing is pending,
        /// damaged or half-written): nothing to recover, and nothing is written back into it.
        case journalRemoved
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
        var lastTried: [Int: Date] = [:]
        while runnerIsAlive {
            // Sleep until the runner exits (the pidfd becomes readable) or the next deadline is due.
            let wait = min(max(revertOverdueFaults(lastTried: &lastTried) ?? 1, 0.01), 1)
            if pidfd >= 0 {
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&entry, 1, Int32(wait * 1000))
            } else {
                Thread.sleep(forTimeInterval: min(wait, 0.05))
            }
        }
        let run = reader.run(at: runDirectory)
        if run.info?.status == .closed && !run.needsRecovery { return .runnerClosed }
        if isBeingRemoved(run) { return .journalRemoved }
        var recovery = Recovery(
            stateDirectory: reader.stateDirectory, catalog: catalog, actor: "guardian", logger: logger)
        recovery.rollbackBudget = rollbackBudget
        return .recovered(try recovery.execute(run))
    }

    /// A state folder removed (`rm -rf`) as its runner exits can lose `run.json` before the
    /// guardian looks. A recovery would then write `run.json` and the run's lock back into the
    /// folder, `rm` would fail on it, and the next `ebb run` would refuse to start. `run.json` is
    /// written before the guardian starts, so it is never missing from a crashed run; with it
    /// gone and no record pending, damaged or half-written, there is nothing to recover.
    private func isBeingRemoved(_ run: RunSnapshot) -> Bool {
        !FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("run.json").path)
            && !run.records.contains { $0.state.isPending } && run.damaged.isEmpty
            && run.interruptedWrites.isEmpty && run.unfinishedVersions.isEmpty
    }

    private var runnerIsAlive: Bool {
        guard let start = runnerStartTime else { return ProcessTable.stat(runnerPID).map { !$0.isGone } ?? false }
        return ProcessTable.isAlive(pid: runnerPID, startTime: start)
    }

    /// A live runner that is stuck (stopped, deadlocked) must not keep a fault past its deadline.
    /// The guardian cannot take the run's lock (the runner holds it for life), so it works record
    /// by record under each record's own lock, and skips a record whose lock the runner holds
    /// right now (it is injecting or rolling that fault back). A record whose undo failed is tried
    /// again every `retryInterval`. Returns the seconds until the next deadline or retry, if any;
    /// the journal is read once for both.
    private func revertOverdueFaults(lastTried: inout [Int: Date]) -> Double? {
        let run = reader.run(at: runDirectory)
        let now = Date()
        let pending = run.records.filter(\.state.isPending)
        let due = pending.filter { record in
            guard record.deadline < now else { return false }
            guard record.state == .revertFailed, let tried = lastTried[record.sequence] else { return true }
            return now.timeIntervalSince(tried) >= retryInterval.seconds
        }
        if !due.isEmpty {
            let executor = RollbackExecutor(
                catalog: catalog, actor: Self.deadlineActor, budget: rollbackBudget, logger: logger)
            for result in executor.execute(due, store: RecordStore(runDirectory: runDirectory), waitForOthers: false) {
                lastTried[result.record.sequence] = Date()
            }
        }
        let retries = pending.filter { $0.deadline < now }.compactMap { lastTried[$0.sequence] }
            .map { $0.addingTimeInterval(retryInterval.seconds).timeIntervalSinceNow }
        let deadlines = pending.filter { $0.deadline >= now }.map { $0.deadline.timeIntervalSinceNow }
        return (retries + deadlines).min()
    }
}

/// Starts the guardian of a run as a detached process: its own session, no terminal, output
/// to `guardian.log` in the run directory (never the CI step's pipes, which would keep the
/// step waiting).
public enum GuardianLauncher {
    public static func launch(
        for journal: RunJournal, reportDirectory: URL,
        rollbackBudget: Duration = RollbackExecutor.defaultBudget
    ) throws -> Int32 {
        let arguments = [
            ChildProcess.currentExecutable, "guardian",
            "--rollback-timeout", "\(Int(rollbackBudget.seconds * 1000))ms",
            "--run-dir", journal.directory.path,
            "--runner-pid", String(journal.info.pid),
            "--runner-start-time", String(journal.info.pidStartTime ?? 0),
            "--report-dir", reportDirectory.path,
        ]
        return try ChildProcess.spawn(
            arguments, outputPath: journal.directory.appendingPathComponent("guardian.log").path,
            newSession: true)
    }
}
