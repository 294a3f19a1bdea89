import Foundation
import Logging

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

/// Runs undo records: newest first, each retried, then verified, each outcome written durably.
/// One failure never stops the others (DESIGN.md invariant 2).
public struct RollbackExecutor: Sendable {
    public var catalog: PluginCatalog
    /// Who is executing, recorded in each record (`runner`, `rollback execute`).
    public var actor: String
    public var attempts: Int
    /// Pause before the second, third, ... attempt.
    public var backoff: Duration
    public var logger: Logger

    public init(catalog: PluginCatalog, actor: String, attempts: Int = 3, backoff: Duration = .milliseconds(200), logger: Logger) {
        self.catalog = catalog
        self.actor = actor
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.logger = logger
    }

    /// Executes `records` newest-first (by sequence), persisting each result with `persist`.
    public func execute(_ records: [UndoRecord], runDirectory: URL,
                        persist: (UndoRecord) throws -> Void) -> [RollbackResult] {
        records.sorted { $0.sequence > $1.sequence }.map { execute($0, runDirectory: runDirectory, persist: persist) }
    }

    /// Executes one record. Records already `reverted` or `irreversible` are left as they are.
    public func execute(_ record: UndoRecord, runDirectory: URL, persist: (UndoRecord) throws -> Void) -> RollbackResult {
        let clock = ContinuousClock()
        let start = clock.now
        var record = record
        guard record.state.isPending else {
            return RollbackResult(record: record, duration: .zero)
        }
        let context = UndoContext(runID: record.runID, runDirectory: runDirectory, logger: logger)
        if let handler = catalog.undoHandlers[record.kind] {
            var lastError = ""
            for attempt in 1...attempts {
                record.attempts += 1
                do {
                    switch try handler.undo(record.data, context) {
                    case .irreversible(let reason):
                        record.state = .irreversible
                        record.message = reason
                    case .undone:
                        try handler.verify(record.data, context)
                        record.state = .reverted
                        record.message = nil
                    case .gone(let reason):
                        try handler.verify(record.data, context)
                        record.state = .reverted
                        record.message = reason
                    }
                    break
                } catch {
                    lastError = "\(error)"
                    logger.info("undo attempt \(attempt)/\(attempts) of \(record.fault) failed: \(lastError)")
                    if attempt < attempts { Thread.sleep(forTimeInterval: backoff.seconds * Double(attempt)) }
                }
            }
            if record.state.isPending {
                record.state = .revertFailed
                record.message = lastError
            }
        } else {
            record.state = .revertFailed
            record.message = "unknown undo kind '\(record.kind)': this ebb cannot execute it (written by another version?)"
        }
        record.finishedAt = Date()
        record.revertedBy = actor
        var result = RollbackResult(record: record, duration: clock.now - start)
        do { try persist(record) } catch {
            result.journalProblem = "could not record the outcome in the journal: \(error)"
            logger.error("\(result.journalProblem!)")
        }
        return result
    }
}
