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

    public init(journal: RunJournal, scenario: String, executor: RollbackExecutor) {
        self.journal = journal
        self.scenario = scenario
        self.executor = executor
    }

    /// The records armed in this scope so far.
    public var records: [UndoRecord] { mutex.withLock { armed } }

    /// Writes the undo record for `plan` (state `armed`) and returns it. Nothing has been touched yet.
    public func arm(fault name: String, plugin: String, plan: FaultPlan, sequence: Int, deadline: Date) throws -> UndoRecord {
        let record = UndoRecord(runID: journal.runID, sequence: sequence, scenario: scenario, fault: name, plugin: plugin,
                                target: plan.target, kind: plan.undoKind, data: plan.undoData, state: .armed,
                                armedAt: Date(), deadline: deadline)
        // Added before the write: if the write fails after its rename (directory fsync), the
        // record exists on disk and must be rolled back; if before, its undo is a harmless no-op.
        mutex.withLock { armed.append(record) }
        try journal.write(record)
        return record
    }

    /// Records that the fault of `record` is now in place.
    public func markInjected(_ record: UndoRecord) throws {
        var updated = record
        updated.state = .injected
        updated.injectedAt = Date()
        try journal.write(updated)
        mutex.withLock {
            if let index = armed.firstIndex(where: { $0.sequence == record.sequence }) { armed[index] = updated }
        }
    }

    /// Takes back every armed fault of this scope, newest first. Safe to call once the scope ends.
    public func rollback() -> [RollbackResult] {
        // The journal is the truth: a guardian may have reverted an overdue fault meanwhile.
        let records = mutex.withLock { armed }.map { record in
            let path = journal.directory.appendingPathComponent(record.fileName).path
            return (try? JSONDecoder.journal.decode(UndoRecord.self, from: DurableFile.read(path))) ?? record
        }
        return executor.execute(records, runDirectory: journal.directory) { try journal.write($0) }
    }
}

/// A fault that could not be injected, and how far it got.
public struct InjectionFailure: Error, CustomStringConvertible {
    public enum Stage: String, Sendable {
        /// The undo record could not be made durable: the fault was not injected (invariant 1).
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
