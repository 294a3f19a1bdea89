import EbbCore
import Foundation
import Logging

/// A fresh directory under the system temp folder, removed by `remove()`.
struct ScratchDirectory {
    let url: URL
    init(_ label: String = "ebb-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    var path: String { url.path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// An undo kind for executor tests: appends its label to a log file, and fails while a
/// "blocker" file exists. A real handler over real files, so ordering and retries are observable.
enum LoggingUndo: UndoHandler {
    struct Payload: Codable, Sendable {
        var label: String
        var log: String
        var blocker: String?
        /// The undo hangs while this file exists (at most 30 s), like an undo stuck on a dead API.
        var hangWhile: String?
    }
    static let kind = "test.logging"

    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        // O_APPEND: undos of unrelated targets run at once, and a seek-then-write would let
        // one overwrite another's line.
        let descriptor = open(payload.log, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw VerificationFailure("cannot open \(payload.log): errno \(errno)") }
        defer { close(descriptor) }
        let line = Array("\(payload.label)\n".utf8)
        guard write(descriptor, line, line.count) == line.count else {
            throw VerificationFailure("cannot write \(payload.log)")
        }
        if let hangWhile = payload.hangWhile {
            let end = Date().addingTimeInterval(30)
            while FileManager.default.fileExists(atPath: hangWhile) && Date() < end {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        if let blocker = payload.blocker, FileManager.default.fileExists(atPath: blocker) {
            throw VerificationFailure("\(payload.label) is blocked")
        }
        return .undone
    }

    static func verify(_ payload: Payload, _ context: UndoContext) throws {}

    static func lines(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

let testLogger = Logger(label: "ebb.test")

/// A LoggingUndo that stands for a cluster object: its records may be executed from any machine.
enum ClusterUndo: UndoHandler {
    typealias Payload = LoggingUndo.Payload
    static let kind = "test.cluster"
    static let actsOnHost = false
    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try LoggingUndo.undo(payload, context)
    }
    static func verify(_ payload: Payload, _ context: UndoContext) throws {}
}

extension PluginCatalog {
    static var testing: PluginCatalog {
        var catalog = PluginCatalog()
        catalog.register(undo: LoggingUndo.self)
        catalog.register(undo: ClusterUndo.self)
        return catalog
    }
}

/// A value set on one thread (an injection, an undo) and read on the test's.
final class Captured<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    var value: Value? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Arms, in a new scope over `journal`, record 1 of fault "f" of scenario "s", whose undo
/// (``LoggingUndo``) appends `label` to `log`.
func armLoggingRecord(
    in journal: RunJournal, label: String, log: String
) throws -> (
    scope: RollbackScope, record: UndoRecord
) {
    let scope = RollbackScope(
        journal: journal, scenario: "s",
        executor: RollbackExecutor(catalog: .testing, actor: "test", logger: testLogger))
    let plan = try FaultPlan(
        target: "t", undoKind: LoggingUndo.kind, undoData: LoggingUndo.Payload(label: label, log: log),
        undoSummary: "")
    return (scope, try scope.arm(fault: "f", plugin: "test", plan: plan, sequence: 1, deadline: Date()))
}
