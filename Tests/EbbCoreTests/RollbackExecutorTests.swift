import EbbCore
import Foundation
import Testing

@Suite struct RollbackExecutorTests {
    func record(
        _ sequence: Int, label: String, log: String, blocker: String? = nil, kind: String = LoggingUndo.kind
    ) throws -> UndoRecord {
        UndoRecord(
            runID: "test", sequence: sequence, scenario: "s", fault: label, plugin: "test", target: label, kind: kind,
            data: try JSONValue(encoding: LoggingUndo.Payload(label: label, log: log, blocker: blocker)),
            state: .injected, armedAt: Date(), deadline: Date())
    }

    @Test func undoesNewestFirstRetriesAndNeverStopsAtAFailure() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        let blocker = scratch.url.appendingPathComponent("blocker").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        _ = FileManager.default.createFile(atPath: blocker, contents: nil)
        let store = RecordStore(runDirectory: scratch.url)
        let records = [
            try record(1, label: "first", log: log), try record(2, label: "broken", log: log, blocker: blocker),
            try record(3, label: "third", log: log),
        ]
        try records.forEach(store.create)
        let executor = RollbackExecutor(
            catalog: .testing, actor: "test", attempts: 3, backoff: .milliseconds(1), forks: 1, logger: testLogger)
        let results = executor.execute(records, store: store)
        let persisted = Dictionary(
            uniqueKeysWithValues: try records.map { ($0.fault, try #require(try store.current($0)).state) })
        #expect(LoggingUndo.lines(log) == ["third", "broken", "broken", "broken", "first"])
        #expect(results.map(\.record.state) == [.reverted, .revertFailed, .reverted])
        #expect(results[1].record.attempts == 3)
        #expect(results[1].record.message?.contains("broken is blocked") == true)
        #expect(persisted == ["first": .reverted, "broken": .revertFailed, "third": .reverted])
    }

    @Test func finishedRecordsAreLeftAloneSoExecutingTwiceIsHarmless() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let executor = RollbackExecutor(catalog: .testing, actor: "test", logger: testLogger)
        let store = RecordStore(runDirectory: scratch.url)
        let once = try record(1, label: "once", log: log)
        try store.create(once)
        let first = executor.execute([once], store: store)
        // The caller's stale copy still says injected: the journal is read afresh and wins.
        let second = executor.execute([once], store: store)
        #expect(LoggingUndo.lines(log) == ["once"])
        #expect(first.map(\.record.state) == [.reverted])
        #expect(second.map(\.record.state) == [.reverted])
    }

    @Test func anUnknownUndoKindIsARollbackFailureNotACrash() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let executor = RollbackExecutor(catalog: .testing, actor: "test", logger: testLogger)
        let result = try #require(
            executor.execute(
                [try record(1, label: "x", log: "/dev/null", kind: "from.the.future")],
                store: RecordStore(runDirectory: scratch.url)
            ).first)
        #expect(result.record.state == .revertFailed)
        #expect(result.record.message?.contains("unknown undo kind 'from.the.future'") == true)
    }
}
