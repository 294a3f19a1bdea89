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

/// An undo that answers the outcome its payload names and logs each call, to see which calls
/// one rollback attempt makes.
private enum AnsweringUndo: UndoHandler {
    struct Payload: Codable, Sendable {
        var outcome: String
        var log: String
    }
    static let kind = "test.answering"

    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try append("undo", to: payload.log)
        switch payload.outcome {
        case "gone": return .gone(reason: "went with its process")
        case "irreversible": return .irreversible(reason: "nothing brings it back")
        default: return .undone
        }
    }

    static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try append("verify", to: payload.log)
    }

    private static func append(_ line: String, to log: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\(line)\n".utf8))
    }
}

@Suite struct UndoThenVerifyTests {
    @Test(arguments: [
        ("undone", ["undo", "verify"]), ("gone", ["undo", "verify"]), ("irreversible", ["undo"]),
    ])
    func anAttemptVerifiesEveryOutcomeButAnIrreversibleOne(outcome: String, calls: [String]) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let context = UndoContext(
            runID: "test", runDirectory: scratch.url, logger: testLogger, services: LiveServices())
        let answered = try AnyUndoHandler(AnsweringUndo.self).undoThenVerify(
            try JSONValue(encoding: AnsweringUndo.Payload(outcome: outcome, log: log)), context)
        #expect(LoggingUndo.lines(log) == calls)
        switch (outcome, answered) {
        case ("undone", .undone), ("gone", .gone), ("irreversible", .irreversible): break
        default: Issue.record("undo answered \(outcome), the attempt returned \(answered)")
        }
    }
}
