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
    /// The host registry the runner copies its records into: the guardian runs with the
    /// runner's environment, so by default the same one (``HostRegistry/standard``).
    public var registry: HostRegistry? = .standard

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
        /// damaged or half-written, there or in its registry copy): nothing to recover, and
        /// nothing is written back into it.
        case journalRemoved
        /// The runner died with the run open; its faults were replayed (from the registry copy
        /// when the run's folder is being removed).
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
            waitForRunner(pidfd, seconds: min(max(revertOverdueFaults(lastTried: &lastTried) ?? 1, 0.01), 1))
        }
        let run = reader.run(at: runDirectory)
        if run.info?.status == .closed && !run.needsRecovery { return .runnerClosed }
        if isBeingRemoved(run) { return try recoverFromRegistryCopy() ?? .journalRemoved }
        return try recover(run, readBy: reader)
    }

    /// Replays the pending records of `run`, whose runner is dead, as the guardian.
    private func recover(_ run: RunSnapshot, readBy reader: JournalReader) throws -> Outcome {
        var recovery = Recovery(
            stateDirectory: reader.stateDirectory, catalog: catalog, actor: "guardian", logger: logger)
        recovery.rollbackBudget = rollbackBudget
        return .recovered(try recovery.execute(run))
    }

    /// A state folder removed (`rm -rf`) as its runner exits can lose `run.json` before the
    /// guardian looks. A recovery would then write `run.json` and the run's lock back into the
    /// folder, `rm` would fail on it, and the next `ebb run` would refuse to start. The run
    /// directory only ever appears with its `run.json` (it is renamed into place), and a runner
    /// that died before that armed nothing; so with `run.json` gone and no record pending,
    /// damaged or half-written, there is nothing to recover.
    private func isBeingRemoved(_ run: RunSnapshot) -> Bool {
        !FileManager.default.fileExists(atPath: runDirectory.appending(path: "run.json").path)
            && !run.records.contains { $0.state.isPending } && run.damaged.isEmpty
            && run.interruptedWrites.isEmpty && run.unfinishedVersions.isEmpty
    }

    /// With the run's folder being removed, its registry copy may be all that is left of what
    /// is still in place: `rm -rf` can take pending records' files, then `run.json`, before the
    /// guardian looks. The runner is gone, so the copy's pending records are recovered now, as
    /// `ebb rollback sweep` would once their deadlines had passed, and nothing is written into
    /// the folder being removed. A settled copy is left to the sweep, which removes it: the
    /// guardian's reports are still to be drawn from it. Nil when the copy (if any) holds
    /// nothing pending or damaged.
    private func recoverFromRegistryCopy() throws -> Outcome? {
        guard let copy = registry?.copy(of: runDirectory),
            FileManager.default.fileExists(atPath: copy.appending(path: "run.json").path)
        else { return nil }
        let reader = JournalReader(holding: copy)
        let run = reader.run(at: copy, probingLiveness: false)
        guard run.needsRecovery else { return nil }
        return try recover(run, readBy: reader)
    }

    /// Sleeps until the runner exits (its pidfd becomes readable) or `seconds` pass.
    private func waitForRunner(_ pidfd: Int32, seconds: Double) {
        if pidfd >= 0 {
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, Int32(seconds * 1000))
        } else {
            Thread.sleep(forTimeInterval: min(seconds, 0.05))
        }
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
/// step waiting). ``RunJournal/create(stateDirectory:suites:registry:runID:guardian:)`` starts
/// it while it builds the run directory, so that its pid is in the first `run.json`: the
/// ``PreforkedGuardian`` when there is one, else a new `ebb guardian` process.
public struct GuardianLauncher: Sendable {
    /// Where the guardian writes the reports of a recovery; nil: `reports` in the run directory.
    public var reportDirectory: URL?
    /// The time budget of each rollback the guardian runs (`--rollback-timeout` of the run).
    public var rollbackBudget: Duration
    /// The run's deadline grace: how long a pre-forked guardian may wait before it executes
    /// `ebb guardian` (at most a second, the guardian's own cadence).
    public var deadlineGrace: Duration
    /// The guardian forked when this process started, taken by the first run that uses it.
    public var preforked: PreforkedGuardian?
    /// The ebb binary the guardian runs: this one.
    public var executable = ChildProcess.currentExecutable

    public init(
        reportDirectory: URL? = nil, rollbackBudget: Duration = RollbackExecutor.defaultBudget,
        deadlineGrace: Duration = .zero, preforked: PreforkedGuardian? = nil
    ) {
        self.reportDirectory = reportDirectory
        self.rollbackBudget = rollbackBudget
        self.deadlineGrace = deadlineGrace
        self.preforked = preforked
    }

    /// The guardian could not be started; nothing was injected.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A guardian started for a run directory being built: its pid, what sets it watching
    /// (called before the directory is renamed into place), and what tells it the run closed
    /// settled, or never came to exist (a guardian still waiting then exits; one that runs
    /// reads that from the journal itself).
    struct Started {
        let pid: Int32
        let watch: () throws -> Void
        var release: @Sendable () -> Void = {}
    }

    /// Starts the guardian of the run that will be at `runDirectory`; a new process logs into
    /// `building` (the directory renamed to `runDirectory` later), a pre-forked one into `runDirectory`.
    func launch(runDirectory: URL, building: URL, runner: RunInfo) throws -> Started {
        let arguments = [
            executable, "guardian",
            "--rollback-timeout", "\(Int(rollbackBudget.seconds * 1000))ms",
            "--run-dir", runDirectory.path,
            "--runner-pid", String(runner.pid),
            "--runner-start-time", String(runner.pidStartTime ?? 0),
            "--report-dir", (reportDirectory ?? runDirectory.appending(path: "reports")).path,
        ]
        // The guardian redacts the secrets this run redacts.
        let secrets = SecretRedactor.shared.variableNames.joined(separator: ",")
        if let waiting = preforked?.take() {
            return Started(
                pid: waiting.pid,
                watch: {
                    try waiting.start(
                        arguments, logPath: runDirectory.appending(path: "guardian.log").path,
                        quietPeriod: min(deadlineGrace, .seconds(1)),
                        environment: secrets.isEmpty ? nil : "\(SecretRedactor.environmentKey)=\(secrets)")
                }, release: waiting.release)
        }
        do {
            let pid = try ChildProcess.spawn(
                arguments, environment: secrets.isEmpty ? nil : [SecretRedactor.environmentKey: secrets],
                outputPath: building.appending(path: "guardian.log").path, newSession: true)
            return Started(pid: pid, watch: {})
        } catch {
            throw Failure(description: "\(error)")
        }
    }
}
