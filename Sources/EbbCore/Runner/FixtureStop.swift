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
        // The whole group, marked or not: a member that ignores SIGTERM and whose environment
        // was cleared (`env -i`, `sudo`) would outlive its marked leader otherwise.
        func left() -> [ProcessSnapshot] { owned(payload) + groups.flatMap(live(inGroup:)) }
        for group in groups { kill(-group, SIGTERM) }
        for process in left() {
            _ = ChildProcess.waitUntilGone(process.pid, startTime: process.startTime, timeout: .seconds(5))
        }
        // A group with a live member has been in use without a break since it was found to be
        // the fixture's: the kernel gives no group id to another group while a member lives.
        for group in groups where !live(inGroup: group).isEmpty { kill(-group, SIGKILL) }
        for process in owned(payload) { kill(-process.processGroup, SIGKILL); kill(process.pid, SIGKILL) }
        for process in left() {
            _ = ChildProcess.waitUntilGone(process.pid, startTime: process.startTime, timeout: .seconds(2))
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let left = owned(payload)
        guard left.isEmpty else {
            throw VerificationFailure("fixture \(payload.name) still runs: pids \(left.map(\.pid))")
        }
        let unmarked = unmarkedInGroup(payload)
        guard !unmarked.isEmpty, let group = payload.pid else { return }
        throw VerificationFailure(
            "fixture \(payload.name) still runs: pids \(unmarked) are in its process group \(group) without its "
                + "marker (started with a cleared environment, as by env -i or sudo, or not readable), and Ebb could "
                + "not end them: end them (kill -- -\(group)), then run 'ebb rollback execute'")
    }

    /// Live processes of the fixture's process group (its leader's pid) that the marker did not
    /// find: their environment was cleared (`env -i`, `sudo`) or cannot be read. They fail the
    /// verification, so a fixture is never recorded stopped while they run. Verification only
    /// looks: the undo signals a group only while a marked member proves it the fixture's.
    static func unmarkedInGroup(_ payload: Payload) -> [Int32] {
        guard let leader = payload.pid, let start = payload.startTime else { return [] }
        // The kernel gives no new process a pid still in use as a group's id, so another process
        // at the leader's pid means the fixture's group has ended and this group is another's.
        if let now = ProcessTable.stat(leader), !now.isGone, now.startTime != start { return [] }
        return live(inGroup: leader).filter { $0.startTime >= start }.map(\.pid)
    }

    /// The live processes of process group `group`.
    private static func live(inGroup group: Int32) -> [ProcessSnapshot] {
        ProcessTable.allPIDs.compactMap { pid in
            guard let process = ProcessTable.stat(pid), process.processGroup == group, !process.isGone else {
                return nil
            }
            return ProcessTable.snapshot(pid)
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
