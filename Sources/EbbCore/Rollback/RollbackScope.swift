import Foundation
import Logging

/// A defer-style scope for faults: each fault is armed (its undo made durable) before it is
/// injected, and ``rollback()`` takes every armed fault back, newest first, whatever happened.
public final class RollbackScope: @unchecked Sendable {
    public let journal: RunJournal
    public let scenario: String
    private let executor: RollbackExecutor
    private var armed: [UndoRecord] = []
    private let mutex = NSLock()
    private let store: RecordStore

    public init(journal: RunJournal, scenario: String, executor: RollbackExecutor) {
        self.journal = journal
        self.scenario = scenario
        self.executor = executor
        store = RecordStore(runDirectory: journal.directory)
    }

    /// The records armed in this scope so far.
    public var records: [UndoRecord] { mutex.withLock { armed } }

    /// Arm, then act (ARCHITECTURE.md invariant 1), written once for faults, fixtures and proxies: makes the undo
    /// record durable (state `armed`), runs `act`, and records the fault `injected`.
    ///
    /// The record's lock is held from arming until `injected` is written, so no other process
    /// (a guardian at the deadline) can revert the record half-way and leave the fault live
    /// behind a `reverted` record. The deadline counts from the moment the fault is in place:
    /// `lifetime` after it. `act` may return new undo data it learnt (a fixture's pid).
    /// Throws ``InjectionFailure``; after an `.inject` failure the record stays armed and the
    /// scope's ``rollback()`` takes back whatever part of the fault is in place.
    @discardableResult
    public func armAndAct(fault name: String, plugin: String, plan: FaultPlan, sequence: Int, lifetime: Duration,
                          act: () throws -> JSONValue?) throws -> UndoRecord {
        let lock: RunLock
        var record: UndoRecord
        do {
            guard let held = try store.lock(sequence) else {
                throw RecordStore.Conflict(description: "record \(sequence) is locked by another process")
            }
            lock = held
            record = try arm(fault: name, plugin: plugin, plan: plan, sequence: sequence, deadline: Date().addingTimeInterval(lifetime.seconds))
        } catch let failure as InjectionFailure {
            throw failure
        } catch {
            throw InjectionFailure(stage: .arm, underlying: error)
        }
        defer { lock.release() }
        do {
            if let data = try act() { record.data = data }
        } catch {
            throw InjectionFailure(stage: .inject, underlying: error)
        }
        record.state = .injected
        record.injectedAt = Date()
        record.deadline = record.injectedAt!.addingTimeInterval(lifetime.seconds)
        try store.update(record)
        remember(record)
        return record
    }

    /// Writes the undo record for `plan` (state `armed`) and returns it. Nothing has been touched
    /// yet. Use ``armAndAct(fault:plugin:plan:sequence:lifetime:act:)`` to inject: this alone
    /// is for measuring the journal.
    public func arm(fault name: String, plugin: String, plan: FaultPlan, sequence: Int, deadline: Date) throws -> UndoRecord {
        let record = UndoRecord(runID: journal.runID, sequence: sequence, scenario: scenario, fault: name, plugin: plugin,
                                target: plan.target, kind: plan.undoKind, data: plan.undoData, state: .armed,
                                armedAt: Date(), deadline: deadline)
        // Remembered before the write: if the write fails after its rename (directory fsync), the
        // record exists on disk and must be rolled back; if before, its undo is a harmless no-op.
        remember(record)
        do {
            try store.create(record)
        } catch {
            throw InjectionFailure(stage: .arm, underlying: error)
        }
        return record
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
            guard var current = try? store.current(record), current.state == .injected, current.deadline < deadline else { continue }
            current.deadline = deadline
            if (try? store.update(current)) != nil { remember(current) }
        }
    }

    /// Takes back every armed fault of this scope, newest first. Safe to call once the scope ends.
    public func rollback() -> [RollbackResult] {
        executor.execute(records, store: store)
    }

    private func remember(_ record: UndoRecord) {
        mutex.withLock {
            if let index = armed.firstIndex(where: { $0.sequence == record.sequence }) {
                armed[index] = record
            } else {
                armed.append(record)
            }
        }
    }
}

/// A fault that could not be injected, and how far it got.
public struct InjectionFailure: Error, CustomStringConvertible {
    public enum Stage: String, Sendable {
        /// The undo record could not be made durable: the fault was not injected (ARCHITECTURE.md invariant 1).
        case arm
        /// Injection failed after arming: the fault may be partly in place and is rolled back.
        case inject
    }
    public var stage: Stage
    public var underlying: Error

    public init(stage: Stage, underlying: Error) {
        self.stage = stage
        self.underlying = underlying
    }

    public var description: String {
        switch stage {
        case .arm: return "could not arm the undo record, so the fault was not injected: \(underlying)"
        case .inject: return "injection failed (the fault is rolled back): \(underlying)"
        }
    }
}
