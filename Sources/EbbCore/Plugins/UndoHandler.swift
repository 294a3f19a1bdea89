import Foundation
import Logging

/// Takes one kind of fault back, from nothing but its journal record.
///
/// `undo` must be idempotent: it runs after crashes between arm and inject, and may run twice.
/// `verify` proves the fault is gone; an undo that ran but does not verify is a rollback failure.
public protocol UndoHandler: Sendable {
    associatedtype Payload: Codable & Sendable
    /// The stable name stored in records. Never rename one: old journals must stay executable.
    static var kind: String { get }
    static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome
    static func verify(_ payload: Payload, _ context: UndoContext) throws
    /// Whether the undo acts on this machine (pids, files, namespaces): then only this machine
    /// may execute it. False for faults on remote APIs (Kubernetes objects), whose records can
    /// be executed from anywhere that reaches the same cluster.
    static var actsOnHost: Bool { get }
}

extension UndoHandler {
    public static var actsOnHost: Bool { true }
}

/// What an undo achieved.
public enum UndoOutcome: Sendable, Equatable {
    /// The fault was taken back (or was never there); verification follows.
    case undone
    /// Nothing can take this fault back (e.g. a killed process with no restart command).
    case irreversible(reason: String)
    /// The fault went away with the process that held it (e.g. a proxy inside a runner that
    /// died): nothing is left to take back. Verification still follows; `reason` is reported.
    case gone(reason: String)
}

/// A verification that failed: the fault is still there.
public struct VerificationFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What an undo may know: the run it belongs to, and nothing from the suite.
public struct UndoContext: Sendable {
    public var runID: String
    public var runDirectory: URL
    public var logger: Logger
    /// What runs keep alive in this process (suite proxies): an undo of a fault on one reaches it
    /// here, and finds nothing when it runs in another process than the one holding it.
    public var services: LiveServices

    public init(runID: String, runDirectory: URL, logger: Logger, services: LiveServices) {
        self.runID = runID
        self.runDirectory = runDirectory
        self.logger = logger
        self.services = services
    }

    /// A file the record names inside its run directory (a backup), found where this undo runs
    /// from: the journal, or the run's registry copy once the journal is gone (`ebb rollback
    /// sweep`). Both have the same directory name, so the path below it is the same.
    public func runFile(_ recorded: String) -> String {
        if FileManager.default.fileExists(atPath: recorded) { return recorded }
        let parts = recorded.split(separator: "/", omittingEmptySubsequences: false)
        guard let index = parts.lastIndex(where: { $0 == Substring(runDirectory.lastPathComponent) }) else {
            return recorded
        }
        return runDirectory.appending(path: parts[(index + 1)...].joined(separator: "/")).path
    }
}

/// An undo handler with its payload type erased, so records of any kind can be executed.
public struct AnyUndoHandler: Sendable {
    public let kind: String
    /// See ``UndoHandler/actsOnHost``.
    public let actsOnHost: Bool
    private let undoBody: @Sendable (JSONValue, UndoContext) throws -> UndoOutcome
    private let verifyBody: @Sendable (JSONValue, UndoContext) throws -> Void
    private let undoThenVerifyBody: @Sendable (JSONValue, UndoContext) throws -> UndoOutcome

    public init<Handler: UndoHandler>(_ handler: Handler.Type) {
        kind = Handler.kind
        actsOnHost = Handler.actsOnHost
        undoBody = { data, context in try Handler.undo(try data.decode(Handler.Payload.self), context) }
        verifyBody = { data, context in try Handler.verify(try data.decode(Handler.Payload.self), context) }
        undoThenVerifyBody = { data, context in
            let payload = try data.decode(Handler.Payload.self)
            let outcome = try Handler.undo(payload, context)
            if case .irreversible = outcome { return outcome }
            try Handler.verify(payload, context)
            return outcome
        }
    }

    public func undo(_ data: JSONValue, _ context: UndoContext) throws -> UndoOutcome { try undoBody(data, context) }
    public func verify(_ data: JSONValue, _ context: UndoContext) throws { try verifyBody(data, context) }

    /// ``undo(_:_:)``, then ``verify(_:_:)`` unless the outcome is irreversible, as one attempt
    /// of a rollback makes them: the payload is decoded once for both.
    public func undoThenVerify(_ data: JSONValue, _ context: UndoContext) throws -> UndoOutcome {
        try undoThenVerifyBody(data, context)
    }
}

/// The plugins and undo kinds a build of Ebb knows. The CLI assembles it from every module.
public struct PluginCatalog: Sendable {
    public private(set) var plugins: [String: any FaultPlugin.Type] = [:]
    public private(set) var undoHandlers: [String: AnyUndoHandler] = [:]

    public init() {
        register(undo: FixtureStop.self)
    }

    /// Registers the plugin and every undo handler its plans can name.
    public mutating func register(_ plugin: any FaultPlugin.Type) {
        plugins[plugin.id] = plugin
        for handler in plugin.undoHandlers { register(undo: handler) }
    }
    public mutating func register<Handler: UndoHandler>(undo handler: Handler.Type) {
        undoHandlers[Handler.kind] = AnyUndoHandler(handler)
    }

    /// Plugins sorted by id, for listings.
    public var sortedPlugins: [any FaultPlugin.Type] { plugins.values.sorted { $0.id < $1.id } }
}
