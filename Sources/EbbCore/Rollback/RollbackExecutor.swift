import Foundation
import Logging
import Synchronization

/// The outcome of taking one fault back.
public struct RollbackResult: Sendable {
    /// The record as finally written (state `reverted`, `revert-failed` or `irreversible`).
    public var record: UndoRecord
    public var duration: Duration
    /// Set when the final state could not be written to the journal (the undo itself may have worked).
    public var journalProblem: String?

    public init(record: UndoRecord, duration: Duration, journalProblem: String? = nil) {
        self.record = record
        self.duration = duration
        self.journalProblem = journalProblem
    }

    public var succeeded: Bool { record.state == .reverted || record.state == .irreversible }
}

/// Runs undo records: newest first where it matters, each retried, then verified, each outcome
/// written durably. One failure never stops the others (ARCHITECTURE.md invariant 2), and the
/// whole rollback has a time budget: undos still waiting when it runs out are recorded as failed
/// instead of hanging the run.
public struct RollbackExecutor: Sendable {
    public var catalog: PluginCatalog
    /// Who is executing, recorded in each record (`runner`, `rollback execute`).
    public var actor: String
    public var attempts: Int
    /// Pause before the second, third, ... attempt.
    public var backoff: Duration
    /// The time one call of ``execute(_:store:waitForOthers:)`` may take in all.
    public var budget: Duration
    /// How many independent undos run at once (`ebb run --forks`); 1 runs every undo newest first, one by one.
    public var forks: Int
    public var logger: Logger
    /// What the undos find alive in this process (see ``LiveServices``): the runner's own, or,
    /// for an executor outside the process that ran the suite, none.
    public var services: LiveServices

    /// The default of `--rollback-timeout`.
    public static let defaultBudget: Duration = .seconds(300)

    public init(
        catalog: PluginCatalog, actor: String, attempts: Int = 3, backoff: Duration = .milliseconds(200),
        budget: Duration = RollbackExecutor.defaultBudget, forks: Int = Forks.defaultLimit, logger: Logger,
        services: LiveServices = LiveServices()
    ) {
        self.services = services
        self.catalog = catalog
        self.actor = actor
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.budget = budget
        self.forks = max(1, forks)
        self.logger = logger
    }

    /// Executes `records`, each under its lock in `store`, newest first (by sequence) where
    /// that matters (ARCHITECTURE.md, "Rollback order"): records are taken in waves, one per
    /// scenario (or setup) in the order the run made them, newest wave first; within a wave,
    /// records that share a target or a target lock key are undone one after another, newest
    /// first, and unrelated ones up to ``forks`` at once. Results come newest first.
    ///
    /// Each record is read afresh under its lock: one that another process finished meanwhile
    /// comes back as that process left it. With `waitForOthers` false (the guardian's deadline
    /// path), a record whose lock another process holds is skipped and left out of the result.
    ///
    /// Outcomes are written as each undo finishes (other processes see them at once) and made
    /// durable together at the end: one journal commit for the batch instead of one per record
    /// (1,000 paused processes resume in a fraction of the time). A crash before that commit
    /// loses only outcomes, never an undo: the records read pending, and undos are idempotent.
    public func execute(_ records: [UndoRecord], store: RecordStore, waitForOthers: Bool = true) -> [RollbackResult] {
        let end = ContinuousClock.now + budget
        let newestFirst = records.sorted { $0.sequence > $1.sequence }
        var slots = [RollbackResult?](repeating: nil, count: newestFirst.count)
        var written: [String] = []
        for wave in Self.waves(newestFirst) {
            let chains = Forks.map(wave.count, limit: forks) { chain in
                var written: [String] = []
                let results = wave[chain].map { index in
                    (
                        index,
                        execute(
                            newestFirst[index], store: store, until: end, waitForOthers: waitForOthers,
                            written: &written)
                    )
                }
                return (results, written)
            }
            for (results, paths) in chains {
                for (index, result) in results { slots[index] = result }
                written += paths
            }
        }
        var results = slots.compactMap { $0 }
        do { try DurableFile.syncFiles(written) } catch {
            let problem = "could not make the outcomes durable in the journal: \(error)"
            logger.error("\(problem)")
            for index in results.indices where results[index].journalProblem == nil {
                results[index].journalProblem = problem
            }
        }
        return results
    }

    /// `records` (newest first) as waves of chains of indices: a wave is a run of records of one
    /// scenario; a chain, the records of a wave that share a target or a lock key, newest first,
    /// or all of setup's.
    static func waves(_ records: [UndoRecord]) -> [[[Int]]] {
        var waves: [[[Int]]] = []
        var start = 0
        while start < records.count {
            var end = start
            while end < records.count && records[end].scenario == records[start].scenario { end += 1 }
            waves.append(chains(records, start..<end))
            start = end
        }
        return waves
    }

    /// The `scenario` of the records of a suite's fixtures and proxies.
    public static let setupScenario = "setup"

    private static func chains(_ records: [UndoRecord], _ range: Range<Int>) -> [[Int]] {
        var chainOf: [String: Int] = [:]
        var chains: [[Int]] = []
        for index in range {
            // Setup is one chain: a fixture may need one started before it (a server behind a
            // proxy, a service on a host that an earlier fixture made reachable).
            let keys =
                records[index].scenario == Self.setupScenario
                ? ["setup"]
                : ["target:" + records[index].target] + (records[index].lockKeys ?? []).map { "lock:" + $0 }
            // Chains this record joins; if it links several, they merge into the oldest-made one.
            let joined = Set(keys.compactMap { chainOf[$0] }).sorted()
            let chain = joined.first ?? chains.count
            if chain == chains.count { chains.append([]) }
            for other in joined.dropFirst() {
                chains[chain] += chains[other]
                chains[other] = []
                for (key, value) in chainOf where value == other { chainOf[key] = chain }
            }
            chains[chain].append(index)
            for key in keys { chainOf[key] = chain }
        }
        // Merged chains keep newest first.
        return chains.filter { !$0.isEmpty }.map { $0.sorted() }
    }

    /// Executes records that no journal holds (made up by the sweep from marks on the targets),
    /// newest first, with the same attempts, verification and budget; outcomes are only returned.
    public func executeWithoutJournal(_ records: [UndoRecord], runDirectory: URL) -> [RollbackResult] {
        let end = ContinuousClock.now + budget
        return records.sorted { $0.sequence > $1.sequence }.map { record in
            let start = ContinuousClock.now
            guard let handler = catalog.undoHandlers[record.kind] else {
                return finish(record, .revertFailed, "unknown undo kind '\(record.kind)'", start: start)
            }
            let context = UndoContext(
                runID: record.runID, runDirectory: runDirectory, logger: logger, services: services)
            guard let (state, message, tries) = Bounded.run(until: end, { undo(record, handler, context) }) else {
                return finish(
                    record, .revertFailed,
                    "the undo was still running when the rollback budget (\(DurationText.format(budget))) ran out",
                    start: start)
            }
            var attempted = record
            attempted.attempts += tries
            return finish(attempted, state, message, start: start)
        }
    }

    private func execute(
        _ record: UndoRecord, store: RecordStore, until end: ContinuousClock.Instant,
        waitForOthers: Bool, written: inout [String]
    ) -> RollbackResult? {
        let start = ContinuousClock.now
        let lock: RunLock?
        do {
            lock = try store.lock(record.sequence, waitingUntil: waitForOthers ? end : nil)
        } catch {
            return finish(record, .revertFailed, "cannot lock the record: \(error)", start: start)
        }
        guard let lock else {
            guard waitForOthers else { return nil }
            return finish(
                record, .revertFailed,
                "another Ebb process held the record until the rollback budget (\(DurationText.format(budget))) ran out",
                start: start)
        }
        // Released once this call is done and its undo has ended: an undo that outlives the
        // budget keeps the lock, so no other process starts the same undo while this one acts.
        let release = SharedRelease(lock)
        var undoRunsLate = false
        defer {
            if !undoRunsLate { release.leave() }
            release.leave()
        }
        // The journal is the truth: the guardian or a recovery may have finished it meanwhile.
        var onDisk: UndoRecord?
        do {
            onDisk = try store.current(record)
        } catch {
            logger.warning("record \(record.fileName) is unreadable (\(error)); executing the runner's copy")
        }
        var current = onDisk ?? record
        guard current.state.isPending else { return RollbackResult(record: current, duration: .zero) }
        guard ContinuousClock.now < end else {
            return finish(
                current, .revertFailed,
                "not attempted: the rollback budget (\(DurationText.format(budget))) ran out first",
                start: start, store: store, readUnderLock: onDisk, written: &written)
        }
        guard let handler = catalog.undoHandlers[current.kind] else {
            return finish(
                current, .revertFailed,
                "unknown undo kind '\(current.kind)': this ebb cannot execute it (written by another version?)",
                start: start, store: store, readUnderLock: onDisk, written: &written)
        }
        let context = UndoContext(
            runID: current.runID, runDirectory: store.runDirectory, logger: logger, services: services)
        let payload = current
        let attempt = Bounded.run(until: end, { undo(payload, handler, context) }, whenLate: release.leave)
        guard let (state, message, tries) = attempt else {
            undoRunsLate = true
            current.attempts += 1
            return finish(
                current, .revertFailed,
                "the undo was still running when the rollback budget (\(DurationText.format(budget))) ran out",
                start: start, store: store, readUnderLock: onDisk, written: &written)
        }
        current.attempts += tries
        return finish(current, state, message, start: start, store: store, readUnderLock: onDisk, written: &written)
    }

    /// Runs the undo and its verification, retried; returns the outcome and the attempts made.
    private func undo(
        _ record: UndoRecord, _ handler: AnyUndoHandler, _ context: UndoContext
    ) -> (RecordState, String?, Int) {
        var lastError = ""
        for attempt in 1...attempts {
            do {
                switch try handler.undoThenVerify(record.data, context) {
                case .irreversible(let reason):
                    return (.irreversible, reason, attempt)
                case .undone:
                    return (.reverted, nil, attempt)
                case .gone(let reason):
                    return (.reverted, reason, attempt)
                }
            } catch {
                lastError = "\(error)"
                logger.info("undo attempt \(attempt)/\(attempts) of \(record.fault) failed: \(lastError)")
                if attempt < attempts { Thread.sleep(forTimeInterval: backoff.seconds * Double(attempt)) }
            }
        }
        return (.revertFailed, lastError, attempts)
    }

    /// The outcome as a result, recorded nowhere (no journal holds the record, or it cannot be locked).
    private func finish(
        _ record: UndoRecord, _ state: RecordState, _ message: String?, start: ContinuousClock.Instant
    ) -> RollbackResult {
        var unused: [String] = []
        return finish(record, state, message, start: start, store: nil, written: &unused)
    }

    /// Records the outcome in `store`, if given (visible at once; the caller commits `written`),
    /// and wraps it as a result. `readUnderLock` is the record as read from `store` under the
    /// record's lock, held since: the outcome is checked against it, not against a fresh read.
    private func finish(
        _ record: UndoRecord, _ state: RecordState, _ message: String?, start: ContinuousClock.Instant,
        store: RecordStore?, readUnderLock: UndoRecord? = nil, written: inout [String]
    ) -> RollbackResult {
        var record = record
        record.state = state
        record.message = message
        record.finishedAt = Date()
        record.revertedBy = actor
        var result = RollbackResult(record: record, duration: ContinuousClock.now - start)
        guard let store else { return result }
        do {
            written +=
                try readUnderLock.map { try store.update(record, readUnderHeldLock: $0, durably: false) }
                ?? store.update(record, durably: false)
        } catch {
            result.journalProblem = "could not record the outcome in the journal: \(error)"
            logger.error("\(result.journalProblem!)")
        }
        return result
    }
}

/// A record lock held by two: the call that took it and the undo it runs, which may outlive
/// the call (see ``Bounded``). The last to leave releases it.
private final class SharedRelease: Sendable {
    private let lock: RunLock
    private let holders = Mutex(2)

    init(_ lock: RunLock) { self.lock = lock }

    func leave() {
        if holders.withLock({ count in
            count -= 1
            return count == 0
        }) {
            lock.release()
        }
    }
}

/// Runs blocking work on a thread of its own and gives up waiting at a deadline. Undos are
/// synchronous system work (commands, API calls, waits for processes) that cannot be
/// cancelled; past the budget the caller goes on and the thread's late result is dropped.
/// `whenLate` runs on that thread once the work ends, if the caller had given up by then.
enum Bounded {
    static func run<T: Sendable>(
        until end: ContinuousClock.Instant, _ body: @escaping @Sendable () -> T,
        whenLate: @escaping @Sendable () -> Void = {}
    ) -> T? {
        let state = Mutex(State<T>())
        let done = DispatchSemaphore(value: 0)
        Blocking.detach {
            let value = body()
            let late = state.withLock { state in
                state.value = value
                return state.gaveUp
            }
            if late { whenLate() }
            done.signal()
        }
        let left = max(0, (end - ContinuousClock.now).seconds)
        _ = done.wait(timeout: .now() + left)
        // Decided under the lock: a result that arrives just as the wait ends is still taken.
        return state.withLock { state in
            if state.value == nil { state.gaveUp = true }
            return state.value
        }
    }

    private struct State<T: Sendable>: Sendable {
        var value: T?
        var gaveUp = false
    }
}
