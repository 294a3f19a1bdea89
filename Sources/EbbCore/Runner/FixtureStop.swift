import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Undo kind `fixture.stop`: ends a fixture's whole process group, found by the marker its
/// processes carry (see ``FixtureProcess``).
public enum FixtureStop: UndoHandler {
    public struct Payload: Codable, Sendable {
        public var name: String
        /// `EBB_FIXTURE=<marker>` in the environment of every process the fixture started.
        public var marker: String
        public var pid: Int32?
        public var startTime: UInt64?
    }

    public static let kind = "fixture.stop"
    static let environmentKey = "EBB_FIXTURE"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let groups = Set(owned(payload).map(\.processGroup))
        for group in groups { kill(-group, SIGTERM) }
        for process in owned(payload) {
            _ = ChildProcess.waitUntilGone(process.pid, startTime: process.startTime, timeout: .seconds(5))
        }
        for process in owned(payload) { kill(-process.processGroup, SIGKILL); kill(process.pid, SIGKILL) }
        for process in owned(payload) {
            _ = ChildProcess.waitUntilGone(process.pid, startTime: process.startTime, timeout: .seconds(2))
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let left = owned(payload)
        guard left.isEmpty else {
            throw VerificationFailure("fixture \(payload.name) still runs: pids \(left.map(\.pid))")
        }
    }

    /// Whether any process of the fixture still runs.
    public static func isRunning(_ payload: Payload) -> Bool { !owned(payload).isEmpty }

    /// Processes that carry the fixture's marker (and the recorded leader, if it still runs).
    static func owned(_ payload: Payload) -> [ProcessSnapshot] {
        var found = ProcessTable.carrying(environmentKey, payload.marker)
        if let pid = payload.pid, let start = payload.startTime, ProcessTable.isAlive(pid: pid, startTime: start),
            !found.contains(where: { $0.pid == pid }), let leader = ProcessTable.snapshot(pid)
        {
            found.append(leader)
        }
        return found
    }
}
