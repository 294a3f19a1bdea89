import Foundation
import Logging

/// A fault family's entry point: declares its parameters and builds configured faults.
///
/// A plugin never injects at load time; `make` only validates and captures parameters.
public protocol FaultPlugin: Sendable {
    /// The id a suite names the plugin by, e.g. `process.pause`.
    static var id: String { get }
    /// One line for `ebb plugins`.
    static var summary: String { get }
    static var parameters: [ParameterSpec] { get }
    /// Every undo handler this plugin's plans can name (``FaultPlan/init(target:undo:payload:undoSummary:lockKeys:)``).
    /// ``PluginCatalog/register(_:)`` registers them with the plugin, so no plugin can be
    /// registered without the undo kinds its records hold.
    static var undoHandlers: [any UndoHandler.Type] { get }
    /// Builds a fault from its parameters; throws ``SuiteError`` (through `parameters`) for bad values.
    static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault
}

/// A configured fault. The runner calls, in order: `plan`, `prepare`, arm (durable undo record), `inject`.
public protocol Fault: Sendable {
    /// Resolves targets and describes the undo, touching nothing. `--dry-run` prints this.
    func plan(_ context: FaultContext) throws -> FaultPlan
    /// Work that must precede arming but leaves the system under test as it is (e.g. a backup copy
    /// inside the run directory).
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws
    /// Changes the system. Runs only after the plan's undo record is durable.
    func inject(_ plan: FaultPlan, _ context: FaultContext) throws
    /// Called once the scenario's hold starts (every fault is in place), with `context.deadline`
    /// moved to the end of the hold plus the grace, as the record's deadline is then. A fault
    /// that writes its expiry on its target (the `k8s.*` marks a sweep reads) moves it there.
    func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws
}

extension Fault {
    public func prepare(_ plan: FaultPlan, _ context: FaultContext) throws {}
    public func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {}
}

/// What a fault will do and everything its undo needs, decided before anything is touched.
public struct FaultPlan: Sendable {
    /// What the fault acts on, for people (`pid 4242 (demo-target)`, `/srv/app.conf`).
    public var target: String
    /// The stable undo kind that ``UndoHandler`` implementations register under.
    public var undoKind: String
    /// Everything the undo needs; stored in the journal so undo works from the record alone.
    public var undoData: JSONValue
    /// One line describing the undo, for `--dry-run`.
    public var undoSummary: String
    /// Stable identities of what the fault acts on (`file-<dev>:<inode>`, `process-<pid>:<start
    /// time>`). The runner locks them across runs while the fault is live (``TargetLocks``), so
    /// a second run's fault on the same target is refused. Empty: nothing to lock.
    public var lockKeys: [String]

    /// A plan whose undo is `Handler`: the kind comes from the handler type and the payload must be its own.
    public init<Handler: UndoHandler>(
        target: String, undo handler: Handler.Type, payload: Handler.Payload, undoSummary: String,
        lockKeys: [String] = []
    ) throws {
        try self.init(
            target: target, undoKind: Handler.kind, undoData: payload, undoSummary: undoSummary, lockKeys: lockKeys)
    }

    /// A plan naming its undo kind by string; for records of kinds no handler type stands for (tests, benchmarks).
    public init<Data: Encodable>(
        target: String, undoKind: String, undoData: Data, undoSummary: String,
        lockKeys: [String] = []
    ) throws {
        self.target = target
        self.undoKind = undoKind
        self.undoData = try JSONValue(encoding: undoData)
        self.undoSummary = undoSummary
        self.lockKeys = lockKeys
    }
}

/// What a fault may know about the run and suite while it plans and injects.
public struct FaultContext: Sendable {
    public var runID: String
    /// The run's journal directory; faults keep backups under it (`backups/`).
    public var runDirectory: URL
    /// Sequence number of the record this fault will arm; unique within the run.
    public var sequence: Int
    public var scenario: String
    public var suite: SuiteContext
    /// Pids of the suite's running fixtures, by fixture name.
    public var fixturePIDs: [String: Int32]
    public var logger: Logger
    /// The fault's deadline (end of the hold plus the grace): what a fault that must end on
    /// its own, even without Ebb, ends at.
    public var deadline: Date
    /// What runs keep alive in this process (suite proxies), for faults that act through one.
    public var services: LiveServices

    /// The run id of `ebb run --dry-run`, whose plans must not depend on what setup creates.
    public static let dryRunID = "dry-run"
    /// Whether this is a dry run: nothing is armed, and setup (fixtures, namespaces) has not run.
    public var isDryRun: Bool { runID == Self.dryRunID }

    public init(
        runID: String, runDirectory: URL, sequence: Int, scenario: String, suite: SuiteContext,
        fixturePIDs: [String: Int32], logger: Logger, deadline: Date = .distantFuture, services: LiveServices
    ) {
        self.runID = runID
        self.runDirectory = runDirectory
        self.sequence = sequence
        self.scenario = scenario
        self.suite = suite
        self.fixturePIDs = fixturePIDs
        self.logger = logger
        self.deadline = deadline
        self.services = services
    }
}

/// Facts about the suite that plugins need while validating and planning.
public struct SuiteContext: Sendable {
    /// The folder holding the suite file; relative paths in parameters are relative to it.
    public var directory: URL
    /// `allowed_roots`, resolved to absolute paths.
    public var allowedRoots: [String]
    /// Names of the suite's fixtures on the runner's machine, so process faults can target them.
    public var fixtureNames: [String]
    /// The suite's fixtures on remote hosts: fixture name to host name (a fault here cannot target them).
    public var remoteFixtureHosts: [String: String]
    /// Names of the suite's `proxies:`, so proxy faults can name theirs.
    public var proxyNames: [String]

    public init(
        directory: URL, allowedRoots: [String], fixtureNames: [String], remoteFixtureHosts: [String: String] = [:],
        proxyNames: [String] = []
    ) {
        self.directory = directory
        self.allowedRoots = allowedRoots
        self.fixtureNames = fixtureNames
        self.remoteFixtureHosts = remoteFixtureHosts
        self.proxyNames = proxyNames
    }

    /// The context of a suite whose setup is `fixtures`.
    public init(directory: URL, allowedRoots: [String], fixtures: [Fixture], proxyNames: [String] = []) {
        var remote: [String: String] = [:]
        for fixture in fixtures { if let host = fixture.host { remote[fixture.name] = host.name } }
        self.init(
            directory: directory, allowedRoots: allowedRoots,
            fixtureNames: fixtures.filter { $0.host == nil }.map(\.name),
            remoteFixtureHosts: remote, proxyNames: proxyNames)
    }

    /// An absolute path for a parameter written relative to the suite file.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory.appending(path: path).standardizedFileURL.path
    }
}

/// A fault that cannot be planned or injected: target missing, permission denied, ...
public struct FaultError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
