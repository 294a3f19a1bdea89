import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `fixture.stop` finds a fixture's processes by the marker in their environment. A process
/// that cleared its environment (`env -i`, `sudo`) carries none, so the group is looked at too.
@Suite(.ownThread) struct FixtureStopTests {
    /// A process left in the fixture's group without the marker, its leader gone, fails the
    /// verification: the fixture is never recorded stopped while it runs.
    @Test func anUnmarkedProcessLeftInTheFixturesGroupFailsVerification() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = scratch.url.appendingPathComponent("member.pid").path
        // The leader starts a member in its own group and exits; neither carries a marker.
        let leader = try ChildProcess.spawn(["sh", "-c", "sleep 303 & echo $! > \(pidFile)"])
        defer { kill(-leader, SIGKILL) }  // the group this test started
        let start = try #require(ProcessTable.stat(leader)?.startTime, "a child is readable until it is reaped")
        #expect(ChildProcess.wait(leader, timeout: .seconds(10)) == 0)
        let member = try #require(
            Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""))
        let payload = try JSONDecoder().decode(
            FixtureStop.Payload.self,
            from: Data(#"{"name":"service","marker":"unused-\#(UUID())","pid":\#(leader),"startTime":\#(start)}"#.utf8))
        let context = UndoContext(
            runID: "test", runDirectory: scratch.url, logger: testLogger, services: LiveServices())
        #expect(FixtureStop.isRunning(payload) == false, "the marker finds nothing")
        #expect {
            try FixtureStop.verify(payload, context)
        } throws: { error in
            "\(error)".contains("pids [\(member)] are in its process group \(leader)")
        }
        kill(-leader, SIGKILL)
        let memberStart = ProcessTable.stat(member)?.startTime ?? 0
        _ = ChildProcess.waitUntilGone(member, startTime: memberStart, timeout: .seconds(10))
        try FixtureStop.verify(payload, context)
    }

    /// Once the fixture's group has ended, its leader's pid may be given to a new process that
    /// leads a group of its own under the same id. That group is not the fixture's: the
    /// verification passes and names none of its processes.
    @Test func aGroupUnderTheLeadersPidReusedIsNotTheFixtures() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // Stands for the process that got the pid: it leads its own group, with a member.
        let newcomer = try ChildProcess.spawn(["sh", "-c", "sleep 303 & wait"])
        defer {
            kill(-newcomer, SIGKILL)  // the group this test started
            _ = ChildProcess.wait(newcomer, timeout: .seconds(10))
        }
        let started = try #require(ProcessTable.stat(newcomer)?.startTime)
        #expect(ProcessTable.stat(newcomer)?.processGroup == newcomer, "it leads its own group")
        // The fixture's leader had that pid before, and started earlier.
        let payload = try JSONDecoder().decode(
            FixtureStop.Payload.self,
            from: Data(
                #"{"name":"service","marker":"unused-\#(UUID())","pid":\#(newcomer),"startTime":\#(started - 1)}"#.utf8)
        )
        let context = UndoContext(
            runID: "test", runDirectory: scratch.url, logger: testLogger, services: LiveServices())
        try FixtureStop.verify(payload, context)
        #expect(ProcessTable.isAlive(pid: newcomer, startTime: started), "verification only looks")
    }
}
