import Foundation
import Logging
import Synchronization

/// A defer-style scope for faults: each fault is armed (its undo made durable) before it is
/// injected, and ``rollback()`` takes every armed fault back, newest first, whatever happened.
public final class RollbackScope: Sendable {
    public let journal: RunJournal
    public let scenario: String
    private let executor: RollbackExecutor
    private let armed = Mutex<[UndoRecord]>([])
    private let store: RecordStore

    public init(journal: RunJournal, scenario: String, executor: RollbackExecutor) {
        self.journal = journal
        self.scenario = scenario
        self.executor = executor
        store = RecordStore(journal: journal)
    }

    /// The records armed in this scope so far.
    public var records: [UndoRecord] { armed.withLock { $0 } }

    /// Arm, then act (ARCHITECTURE.md invariant 1), written once for faults, fixtures and
    /// proxies, for one or many at once:
    ///
    /// 1. **prepare**: each arming's `prepare` runs (target locks, backups) and its record lock
    ///    is taken, up to `forks` at once. If any fails, nothing is armed and nothing acts;
    /// 2. **arm**: every record is written `armed`, and all are made durable together (one
    ///    journal commit) before any of them acts. If that fails, nothing acts;
    /// 3. **act**: each `act` runs, up to `forks` at once. Once one fails, or `proceed` says
    ///    no (a signal), those not started yet never start: they stay armed, and the scope's
    ///    ``rollback()`` runs their (idempotent) undos with the others';
    /// 4. **record**: those that acted are written `injected`, durable together, with their
    ///    deadline `lifetime` after the last act ended, and the record locks are released.
    ///
    /// A record's lock is held from arming until `injected` is written, so no other process (a
    /// guardian at the deadline) can revert it half-way and leave the fault live behind a
    /// `reverted` record. Returns one outcome per arming, in the order given.
    public func armThenAct(
        _ armings: [Arming], lifetime: Duration, forks: Int,
        proceed: @escaping @Sendable () -> Bool = { true }
    ) -> [Result<UndoRecord, InjectionFailure>] {
        guard !armings.isEmpty else { return [] }
        let prepared = prepare(armings, forks: forks)
        guard prepared.allSatisfy({ (try? $0.get()) != nil }) else {
            return prepared.map { outcome in
                switch outcome {
                case .success(let lock):
                    lock.release()
                    return .failure(
                        InjectionFailure(
                            stage: .notStarted,
                            underlying: NotStarted(reason: "another fault of the scenario could not be prepared")))
                case .failure(let failure):
                    return .failure(failure)
                }
            }
        }
        let locks = prepared.map { try! $0.get() }
        defer { locks.forEach { $0.release() } }
        var records: [UndoRecord]
        do {
            records = try arm(armings, deadline: Date().addingTimeInterval(lifetime.seconds))
        } catch {
            return armings.map { _ in .failure(InjectionFailure(stage: .arm, underlying: error)) }
        }
        let stop = StopFlag()
        let acted = Forks.map(armings.count, limit: forks) { index -> Result<JSONValue?, InjectionFailure> in
            guard !stop.isSet, proceed() else {
                return .failure(
                    InjectionFailure(
                        stage: .notStarted,
                        underlying: NotStarted(
                            reason: proceed()
                                ? "another fault of the scenario failed to inject" : "the run was interrupted")))
            }
            do {
                return .success(try armings[index].act())
            } catch {
                stop.set()
                return .failure(InjectionFailure(stage: .inject, underlying: error))
            }
        }
        let injectedAt = Date()
        var injected: [Int] = []
        for (index, outcome) in acted.enumerated() {
            guard case .success(let data) = outcome else { continue }
            if let data { records[index].data = data }
            records[index].state = .injected
            records[index].injectedAt = injectedAt
            records[index].deadline = injectedAt.addingTimeInterval(lifetime.seconds)
            injected.append(index)
        }
        var recordProblem: Error?
        do { try store.replace(heldSinceWritten: injected.map { records[$0] }) } catch { recordProblem = error }
        injected.forEach { remember(records[$0]) }
        return acted.enumerated().map { index, outcome in
            switch outcome {
            case .failure(let failure): return .failure(failure)
            case .success:
                // The fault acted; its armed record still takes it back, but the run must say the journal lagged.
                if let recordProblem { return .failure(InjectionFailure(stage: .record, underlying: recordProblem)) }
                return .success(records[index])
            }
        }
    }

    /// ``armThenAct(_:lifetime:forks:proceed:)`` for one fault, fixture or proxy: returns its
    /// record, `injected`, or throws its ``InjectionFailure``.
    @discardableResult
    public func armAndAct(_ arming: Arming, lifetime: Duration) throws -> UndoRecord {
        try armThenAct([arming], lifetime: lifetime, forks: 1)[0].get()
    }

    /// Step 1 of ``armThenAct(_:lifetime:forks:proceed:)``: each arming prepared and its record locked.
    private func prepare(_ armings: [Arming], forks: Int) -> [Result<RunLock, InjectionFailure>] {
        Forks.map(armings.count, limit: forks) { index in
            let arming = armings[index]
            do {
                try arming.prepare()
            } catch {
                return .failure(InjectionFailure(stage: .prepare, underlying: error))
            }
            do {
                guard let lock = try self.store.lock(arming.sequence) else {
                    throw RecordStore.Conflict(description: "record \(arming.sequence) is locked by another process")
                }
                return .success(lock)
            } catch {
                return .failure(InjectionFailure(stage: .arm, underlying: error))
            }
        }
    }

    /// Step 2: every record written `armed`, durable together.
    private func arm(_ armings: [Arming], deadline: Date) throws -> [UndoRecord] {
        let records = armings.map { arming in
            var record = UndoRecord(
                runID: journal.runID, sequence: arming.sequence, scenario: scenario, fault: arming.fault,
                plugin: arming.plugin, target: arming.plan.target, kind: arming.plan.undoKind,
                data: arming.plan.undoData, state: .armed, armedAt: Date(), deadline: deadline)
            record.lockKeys = arming.plan.lockKeys.isEmpty ? nil : arming.plan.lockKeys
            return record
        }
        // Remembered before the write: if the write fails after a rename, that record exists on
        // disk and must be rolled back; if before, its undo is a harmless no-op.
        records.forEach(remember)
        try store.create(records)
        return records
    }

    /// Writes the undo record for `plan` (state `armed`) and returns it. Nothing has been touched
    /// yet. Use ``armThenAct(_:lifetime:forks:proceed:)`` to inject: this alone is for
    /// measuring the journal.
    public func arm(
        fault name: String, plugin: String, plan: FaultPlan, sequence: Int, deadline: Date
    ) throws -> UndoRecord {
        do {
            return try arm(
                [Arming(fault: name, plugin: plugin, plan: plan, sequence: sequence) { nil }], deadline: deadline)[0]
        } catch {
            throw InjectionFailure(stage: .arm, underlying: error)
        }
    }

    /// Moves the deadline of every fault of this scope that is still in place to `lifetime`
    /// from now: a phase that legitimately takes long (a hold, a check phase) must not look
    /// like a stuck runner to the guardian. Records already reverted are left alone.
    public func renewDeadlines(lifetime: Duration) {
        let deadline = Date().addingTimeInterval(lifetime.seconds)
        // Each durably, unlike a rollback's outcomes: these faults are live, and a record left
        // unreadable by a machine crash could not take back one that outlives a reboot (a file).
        for record in records {
            guard let lock = try? store.lock(record.sequence, waitingUntil: .now + .seconds(1)) else { continue }
            defer { lock.release() }
            guard var current = try? store.current(record), current.state == .injected, current.deadline < deadline
            else { continue }
            current.deadline = deadline
            if (try? store.update(current)) != nil { remember(current) }
        }
    }

    /// Takes back every armed fault of this scope, newest first where that matters (see
    /// ``RollbackExecutor/execute(_:store:waitForOthers:)``). Safe to call once the scope ends.
    public func rollback() -> [RollbackResult] {
        executor.execute(records, store: store)
    }

    private func remember(_ record: UndoRecord) {
        armed.withLock { armed in
            if let index = armed.firstIndex(where: { $0.sequence == record.sequence }) {
                armed[index] = record
            } else {
                armed.append(record)
            }
        }
    }
}

/// One fault, fixture or proxy for ``RollbackScope/armThenAct(_:lifetime:forks:proceed:)``.
public struct Arming: Sendable {
    /// The record's `fault` field: the fault's name, `fixture <name>`, `proxy <name>`.
    public var fault: String
    public var plugin: String
    public var plan: FaultPlan
    public var sequence: Int
    /// Work that must come before arming and leaves the system as it is: take the target
    /// locks, make a backup.
    public var prepare: @Sendable () throws -> Void
    /// Acts; runs only once the record is durable. May return undo data it learnt (a fixture's pid).
    public var act: @Sendable () throws -> JSONValue?

    public init(
        fault: String, plugin: String, plan: FaultPlan, sequence: Int,
        prepare: @escaping @Sendable () throws -> Void = {},
        act: @escaping @Sendable () throws -> JSONValue?
    ) {
        self.fault = fault
        self.plugin = plugin
        self.plan = plan
        self.sequence = sequence
        self.prepare = prepare
        self.act = act
    }
}

/// Why an arming never acted although nothing was wrong with it.
public struct NotStarted: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// A one-way flag shared by the threads acting for one scope.
private final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)
    var isSet: Bool { stopped.load(ordering: .acquiring) }
    func set() { stopped.store(true, ordering: .releasing) }
}

/// A fault that could not be injected, and how far it got.
public struct InjectionFailure: Error, CustomStringConvertible {
    public enum Stage: String, Sendable {
        /// Its target locks or its preparation failed: nothing of the scenario was armed or injected.
        case prepare
        /// The undo record could not be made durable: the fault was not injected (ARCHITECTURE.md invariant 1).
        case arm
        /// Armed, but never acted: another fault failed first, or the run was interrupted.
        case notStarted
        /// Injection failed after arming: the fault may be partly in place and is rolled back.
        case inject
        /// Injected, but its record could not be moved to `injected`; the armed record still takes it back.
        case record
    }
    public var stage: Stage
    public var underlying: Error

    public init(stage: Stage, underlying: Error) {
        self.stage = stage
        self.underlying = underlying
    }

    public var description: String {
        switch stage {
        case .prepare: return "could not prepare the fault, so no fault of the scenario was injected: \(underlying)"
        case .arm: return "could not arm the undo record, so the fault was not injected: \(underlying)"
        case .notStarted: return "not injected: \(underlying)"
        case .inject: return "injection failed (the fault is rolled back): \(underlying)"
        case .record: return "injected, but the journal could not record it (the fault is rolled back): \(underlying)"
        }
    }
}
