import Foundation

/// A fixture's process tree as a fault, so that it is armed like one: its `fixture.stop` record
/// is durable before the process starts. The runner starts its own fixtures with it, and a
/// host's agent those of `host: NAME`.
public struct FixtureProcess: Fault, Codable {
    /// The `plugin` of a fixture's records, and of the agent request that starts one on a host.
    public static let plugin = "setup"

    public var name: String
    public var command: [String]
    public var environment: [String: String]
    /// Where it runs; nil: the current directory (on a host, the remote user's home).
    public var directory: String?
    /// The file its output goes to.
    public var logPath: String

    public init(_ fixture: Fixture, logPath: String) {
        name = fixture.name
        command = fixture.command
        environment = fixture.environment
        directory = fixture.directory
        self.logPath = logPath
    }

    /// The record names a marker the fixture's processes will carry in their environment, so a
    /// crash between spawn and the pid being recorded still leaves them findable, and provably ours.
    public func plan(_ context: FaultContext) throws -> FaultPlan {
        try FaultPlan(
            target: "fixture \(name)", undo: FixtureStop.self,
            payload: FixtureStop.Payload(name: name, marker: "\(context.runID)/\(name)"),
            undoSummary: "stop process group of fixture \(name)")
    }

    public func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        _ = try start(plan)
    }

    /// Starts the fixture and returns its undo data with the pid it got.
    public func start(_ plan: FaultPlan) throws -> FixtureStop.Payload {
        var started = try plan.undoData.decode(FixtureStop.Payload.self)
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: logPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        // EBB_EXECUTABLE: so a fixture's script can start `ebb demo-target` and the like with this very binary.
        let environment = environment.merging([
            FixtureStop.environmentKey: started.marker, "EBB_EXECUTABLE": ChildProcess.currentExecutable,
        ]) { $1 }
        let pid = try ChildProcess.spawn(command, environment: environment, directory: directory, outputPath: logPath)
        started.pid = pid
        started.startTime = ProcessTable.stat(pid)?.startTime
        return started
    }

    /// The last 2 KiB of its output, for an error that says why it never became ready.
    public var outputTail: String {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()
        return String(decoding: data.suffix(2048), as: UTF8.self)
    }
}

/// What one readiness probe of a fixture found.
public enum ReadinessAnswer: Sendable, Codable, Equatable {
    case ready
    case notReady(String)
    /// The fixture's processes are gone; with its output's tail.
    case exited(String)
}
