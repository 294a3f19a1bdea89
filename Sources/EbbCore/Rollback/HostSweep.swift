import Foundation
import Logging

/// `ebb rollback sweep`: the last line of defence when the runner, its guardian and the CI
/// workspace holding the journal are all gone. It reads the host registry (see
/// ``HostRegistry``), and for every run whose runner is dead reverts the records whose
/// deadline has passed, verified, from the journal if it still exists, else from the registry
/// copy. Records before their deadline are left alone: their runner may still be working
/// elsewhere in a job that lost only its workspace.
public struct HostSweep: Sendable {
    public var registry: HostRegistry
    public var catalog: PluginCatalog
    public var logger: Logger
    public var rollbackBudget = RollbackExecutor.defaultBudget
    public static let actor = "rollback sweep"

    public init(registry: HostRegistry, catalog: PluginCatalog, logger: Logger) {
        self.registry = registry
        self.catalog = catalog
        self.logger = logger
    }

    /// What the sweep did with one registered run.
    public struct Outcome: Sendable {
        public var report: RecoveryReport
        /// Nothing was due: the run is live, or none of its pending records is past its deadline.
        public var skipped: String?
        /// Its runner, or a recovery, is at work: what it made must not be swept by name either.
        public var isLive = false
    }

    /// Sweeps every registered run; `now` is when deadlines are judged.
    public func sweep(now: Date = Date()) throws -> [Outcome] {
        try registry.runs().map { sweep(copy: $0, now: now) }
    }

    private func sweep(copy: URL, now: Date) -> Outcome {
        let reader = JournalReader(holding: copy)
        let registered = reader.run(at: copy)
        var report = RecoveryReport(runID: registered.id, directory: copy, results: [], damaged: [])
        if let info = registered.info, let start = info.pidStartTime,
            ProcessTable.isAlive(pid: info.pid, startTime: start)
        {
            return Outcome(report: report, skipped: "its runner (pid \(info.pid)) is alive", isLive: true)
        }
        // The journal is the first copy: use it while it exists. On its file system the copy's
        // locks are the journal's own under second names (see HostRegistry.prepare), so a
        // recovery still at work through a journal deleted meanwhile holds this lock too;
        // elsewhere only going through the journal while it exists keeps the two apart.
        let journal = registered.info?.journal.map { URL(fileURLWithPath: $0) }
        let directory =
            journal.flatMap {
                FileManager.default.fileExists(atPath: $0.appending(path: "run.json").path) ? $0 : nil
            } ?? copy
        let taken: RunLock?
        do {
            taken = try RunLock.acquire(directory)
        } catch {
            // Not known to be dead: reported (the sweep fails), and its marked targets left alone.
            report.damaged.append((directory.path, "cannot take the run's lock: \(error)"))
            return Outcome(report: report, skipped: nil, isLive: true)
        }
        guard let lock = taken else {
            return Outcome(
                report: report, skipped: "it is live (its runner or a recovery holds the lock)", isLive: true)
        }
        defer { lock.release() }
        let run = JournalReader(holding: directory).run(at: directory, probingLiveness: false)
        report.directory = directory
        report.damaged = run.damaged
        let due = run.records.filter { $0.state.isPending && $0.deadline < now }
        if due.isEmpty {
            RegistryCopy(directory: copy).removeIfSettled(run)
            let pending = run.records.filter(\.state.isPending).count
            let kept = FileManager.default.fileExists(atPath: copy.path)
            let reason =
                pending > 0
                ? "\(pending) pending record(s) not yet past their deadline"
                : kept
                    ? "nothing pending, but damaged records: inspect \(directory.path)"
                    : "nothing pending; its registry copy is removed"
            return Outcome(report: report, skipped: reason)
        }
        for command in InFlightTools.settle(runID: run.id) {
            logger.warning(
                "ended \(command.displayName) (pid \(command.pid)), still acting for dead run \(run.id) after 5s")
        }
        let executor = RollbackExecutor(catalog: catalog, actor: Self.actor, budget: rollbackBudget, logger: logger)
        report.results = executor.execute(due, store: RecordStore(runDirectory: directory))
        let after = JournalReader(holding: directory).run(at: directory, probingLiveness: false)
        if var info = after.info, info.status == .open, !after.records.contains(where: \.state.isPending) {
            info.status =
                after.damaged.isEmpty && report.results.allSatisfy(\.succeeded) ? .crashedRecovered : .crashedDirty
            info.closedAt = Date()
            info.recoveredBy = Self.actor
            try? info.write(into: directory)
        }
        RegistryCopy(directory: copy).removeIfSettled(
            JournalReader(holding: directory).run(at: directory, probingLiveness: false))
        return Outcome(report: report, skipped: nil)
    }
}
