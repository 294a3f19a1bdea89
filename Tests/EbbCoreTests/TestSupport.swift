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
    }
    static let kind = "test.logging"

    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: payload.log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\(payload.label)\n".utf8))
        try handle.close()
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

extension PluginCatalog {
    static var testing: PluginCatalog {
        var catalog = PluginCatalog()
        catalog.register(undo: LoggingUndo.self)
        return catalog
    }
}
