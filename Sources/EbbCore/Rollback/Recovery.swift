import Foundation
import Logging

/// What executing one run's journal achieved.
public struct RecoveryReport: Sendable {
    public var runID: String
    public var directory: URL
    public var results: [RollbackResult]
    /// Records that could not be read: reported, never skipped silently; they make recovery incomplete.
    public var damaged: [(path: String, problem: String)]
    /// Why the run was not executed at all (e.g. it is live).
    public var refusal: String?

    /// Nothing refused or damaged, and every undo succeeded with its outcome durable.
    public var isComplete: Bool {
        refusal == nil && damaged.isEmpty && results.allSatisfy(\.succeeded) && outcomesDurable
    }

    /// Every outcome this recovery wrote was made durable in the journal.
    public var outcomesDurable: Bool { results.allSatisfy { $0.journalProblem == nil } }
}

/// Executes the undo records of runs from the journal alone: no suite, no plugin setup (ARCHITECTURE.md invariant 7).
public struct Recovery: Sendable {
    public var reader: JournalReader
    public var catalog: PluginCatalog
    public var actor: String
    public var logger: Logger
    /// Execute runs recorded on another host (a shared state directory); off by default,
    /// because their pids and paths name things on that host (ownership, ARCHITECTURE.md invariant 6).
    public var allowsOtherHosts = false
    /// The time budget of each run's rollback (`--rollback-timeout`).
    public var rollbackBudget = RollbackExecutor.defaultBudget

    public init(stateDirectory: URL, catalog: PluginCatalog, actor: String = "rollback execute", logger: Logger) {
        reader = JournalReader(stateDirectory: stateDirectory)
        self.catalog = catalog
        self.actor = actor
        self.logger = logger
    }

    /// Executes the pending records of `run`, newest first, holding the run's lock meanwhile.
    /// A live run (its lock held) is refused: Ebb never races a runner.
    public func execute(_ run: RunSnapshot) throws -> RecoveryReport {
        var report = RecoveryReport(runID: run.id, directory: run.directory, results: [], damaged: [])
        let here = HostIdentity.current
        if let recorded = run.info?.hostIdentity, !here.matches(recorded), !allowsOtherHosts, !actsOnClustersOnly(run) {
            report.refusal =
                "run \(run.id) was recorded on host \(recorded.description), not \(here.description): its pids and paths belong there; "
                + "run 'ebb rollback execute' on \(recorded.hostname), pass --allow-other-host if the state is truly shared, "
                + "or 'ebb rollback forget --run \(run.id)' if that host is gone"
            return report
        }
        // A reader probing the lock holds it for an instant; only a holder that stays is a live run.
        var lock = try RunLock.acquire(run.directory)
        for _ in 0..<10 where lock == nil {
            Thread.sleep(forTimeInterval: 0.05)
            lock = try RunLock.acquire(run.directory)
        }
        guard let lock else {
            report.refusal = "run \(run.id) is live (its runner or another recovery holds the lock); not touching it"
            return report
        }
        defer { lock.release() }
        // Read again under the lock: the runner may have finished in between.
        let current = reader.run(at: run.directory, probingLiveness: false)
        report.damaged = current.damaged
        if let problem = current.problem {
            report.damaged.append((current.directory.appending(path: "run.json").path, problem))
        }
        let pending = current.records.filter(\.state.isPending)
        if !pending.isEmpty {
            // A command the dead runner started may still be injecting: it must not act after the undo.
            for command in InFlightTools.settle(runID: current.id) {
                logger.warning(
                    "ended \(command.displayName) (pid \(command.pid)), still acting for dead run \(current.id) after 5s"
                )
            }
        }
        let executor = RollbackExecutor(catalog: catalog, actor: actor, budget: rollbackBudget, logger: logger)
        report.results = executor.execute(pending, store: RecordStore(runDirectory: current.directory))
        var after = reader.run(at: current.directory, probingLiveness: false)
        if var info = after.info {
            let leftOpen = info.status == .open || info.status == .crashedDirty
            if leftOpen {
                info.status = report.isComplete ? .crashedRecovered : .crashedDirty
                info.closedAt = Date()
                info.recoveredBy = actor
            }
            // An outcome that could not be made durable leaves the run unsettled (see RunInfo.settled).
            let settled = after.isSettled && report.outcomesDurable
            if leftOpen || (settled && info.settled != true) {
                info.settled = settled
                try info.write(into: current.directory)
                after.info = info
            }
        }
        RegistryCopy(of: current.directory)?.removeIfSettled(after)
        return report
    }

    /// Whether every record of `run` acts on a cluster object (a Kubernetes API), not on this
    /// machine: such a run may be recovered from anywhere, e.g. from the next night's pod.
    private func actsOnClustersOnly(_ run: RunSnapshot) -> Bool {
        !run.records.isEmpty && run.damaged.isEmpty
            && run.records.allSatisfy { catalog.undoHandlers[$0.kind].map { !$0.actsOnHost } ?? false }
    }
}
