import EbbCore
import Foundation
import Logging

/// The host's side of taking a remote fault back: `ebb remote undo` and `ebb remote verify`,
/// run over ssh by whoever executes the runner's record (the runner, its guardian, `ebb
/// rollback execute`). They act on the host's journal alone, under each record's lock, so
/// they may race the host's own guardian safely.
public enum RemoteRecords {
    /// The undo kind of a tombstone: written by an undo that found no record for a sequence,
    /// so that an agent that had not yet armed it never injects it afterwards.
    static let tombstoneFault = "(taken back before it was armed)"

    /// What is asked of one record; the raw value is the `ebb remote` subcommand.
    public enum Action: String, Sendable {
        case undo, verify
    }

    /// Performs `action` on record `sequence` of run `runID`.
    public static func perform(
        _ action: Action, stateDirectory: URL, runID: String, sequence: Int, catalog: PluginCatalog,
        logger: Logger
    ) -> RemoteRecordOutcome {
        switch action {
        case .undo:
            undo(stateDirectory: stateDirectory, runID: runID, sequence: sequence, catalog: catalog, logger: logger)
        case .verify:
            verify(stateDirectory: stateDirectory, runID: runID, sequence: sequence, catalog: catalog, logger: logger)
        }
    }

    /// Takes back record `sequence` of run `runID` (or finds it taken back) and verifies it.
    static func undo(
        stateDirectory: URL, runID: String, sequence: Int, catalog: PluginCatalog, logger: Logger
    ) -> RemoteRecordOutcome {
        do {
            guard let run = try JournalReader(stateDirectory: stateDirectory).run(id: runID, probingLiveness: false)
            else {
                return RemoteRecordOutcome(
                    state: .undone, detail: "no journal of run \(runID) on this host: nothing of it acted here")
            }
            let store = RecordStore(runDirectory: run.directory)
            let records = try recordsOrTombstone(sequence, run: run, store: store)
            guard !records.isEmpty else {
                return RemoteRecordOutcome(
                    state: .undone, detail: "never armed on this host; a tombstone keeps it from acting")
            }
            let executor = RollbackExecutor(catalog: catalog, actor: "remote undo (for the runner)", logger: logger)
            let results = executor.execute(records, store: store)
            return outcome(of: results.map(\.record))
        } catch {
            return RemoteRecordOutcome(state: .failed, detail: "\(error)")
        }
    }

    /// Proves record `sequence` of run `runID` is gone from this host.
    static func verify(
        stateDirectory: URL, runID: String, sequence: Int, catalog: PluginCatalog, logger: Logger
    ) -> RemoteRecordOutcome {
        do {
            guard let run = try JournalReader(stateDirectory: stateDirectory).run(id: runID, probingLiveness: false)
            else {
                return RemoteRecordOutcome(
                    state: .undone, detail: "no journal of run \(runID) on this host: nothing of it acted here")
            }
            let records = JournalReader(holding: run.directory).run(at: run.directory, probingLiveness: false).records
                .filter {
                    $0.sequence == sequence
                }
            for record in records where record.fault != tombstoneFault {
                if record.state.isPending {
                    return RemoteRecordOutcome(
                        state: .failed, detail: "record \(record.fileName) is \(record.state.rawValue)")
                }
                guard let handler = catalog.undoHandlers[record.kind] else {
                    return RemoteRecordOutcome(state: .failed, detail: "unknown undo kind '\(record.kind)'")
                }
                try handler.verify(
                    record.data,
                    UndoContext(runID: runID, runDirectory: run.directory, logger: logger, services: LiveServices()))
            }
            return RemoteRecordOutcome(
                state: .undone, detail: records.isEmpty ? "never armed on this host" : "verified on this host")
        } catch {
            return RemoteRecordOutcome(state: .failed, detail: "\(error)")
        }
    }

    /// The records of `sequence`; none found, a tombstone is written under the record's lock
    /// (the lock an agent holds while it arms and injects) and nothing is returned.
    private static func recordsOrTombstone(_ sequence: Int, run: RunSnapshot, store: RecordStore) throws -> [UndoRecord]
    {
        func records() -> [UndoRecord] {
            JournalReader(holding: run.directory).run(at: run.directory, probingLiveness: false).records.filter {
                $0.sequence == sequence && $0.fault != tombstoneFault
            }
        }
        let found = records()
        guard found.isEmpty else { return found }
        guard let lock = try store.lock(sequence, waitingUntil: .now + .seconds(30)) else {
            throw FaultError(description: "record \(sequence) stayed locked on this host for 30 s")
        }
        defer { lock.release() }
        let armed = records()
        guard armed.isEmpty else { return armed }
        if tombstone(sequence, in: store) == nil {
            var stone = UndoRecord(
                runID: run.id, sequence: sequence, scenario: "remote", fault: tombstoneFault, plugin: "remote",
                target: "nothing", kind: NothingToUndo.kind, data: .object([:]), state: .reverted,
                armedAt: Date(), deadline: Date())
            stone.revertedBy = "remote undo (for the runner)"
            stone.finishedAt = Date()
            try store.create(stone)
        }
        return []
    }

    /// The tombstone of `sequence`, if an undo wrote one.
    static func tombstone(_ sequence: Int, in store: RecordStore) -> UndoRecord? {
        JournalReader(holding: store.runDirectory).run(at: store.runDirectory, probingLiveness: false).records
            .first { $0.sequence == sequence && $0.fault == tombstoneFault }
    }

    private static func outcome(of records: [UndoRecord]) -> RemoteRecordOutcome {
        let text = records.map {
            "\($0.target): \($0.state.rawValue)" + ($0.revertedBy.map { " by \($0)" } ?? "")
                + ($0.message.map { " (\($0))" } ?? "")
        }
        .joined(separator: "; ")
        if records.contains(where: \.state.isPending) { return RemoteRecordOutcome(state: .failed, detail: text) }
        if records.contains(where: { $0.state == .irreversible }) {
            return RemoteRecordOutcome(state: .irreversible, detail: text)
        }
        return RemoteRecordOutcome(state: .undone, detail: text)
    }
}

/// The undo of a tombstone: there is nothing to take back.
struct NothingToUndo: UndoHandler {
    struct Payload: Codable, Sendable {}
    static let kind = "remote.nothing"
    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome { .undone }
    static func verify(_ payload: Payload, _ context: UndoContext) throws {}
}
