import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// Two runs (two lock sets) on one state directory: a target one holds is refused to the other.
@Suite(.ownThread) struct TargetLocksTests {
    @Test func aTargetHeldByOneRunIsRefusedToAnotherUntilReleased() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-locks-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let first = TargetLocks(stateDirectory: state, runID: "aaaa1111")
        let second = TargetLocks(stateDirectory: state, runID: "bbbb2222")
        try first.acquire(["file-1:42"], target: "/srv/app.conf", sequence: 3)
        try first.acquire(["file-1:42"], target: "/srv/app.conf", sequence: 4)  // the same run may fault it twice
        #expect { try second.acquire(["file-9:9", "file-1:42"], target: "/srv/app.conf", sequence: 1) } throws: {
            "\($0)".contains("/srv/app.conf is locked by run aaaa1111")
        }
        first.release(sequences: [3])
        #expect(throws: TargetLocks.Conflict.self, "sequence 4 still holds it") {
            try second.acquire(["file-1:42"], target: "/srv/app.conf", sequence: 1)
        }
        first.release(sequences: [4])
        // A child that another test of this process is spawning holds a copy of every descriptor
        // until its exec closes them (O_CLOEXEC), and with it the flock: wait for that to pass.
        #expect(
            Self.eventually {
                (try? second.acquire(["file-9:9", "file-1:42"], target: "/srv/app.conf", sequence: 1)) != nil
            })
        #expect(throws: TargetLocks.Conflict.self, "a refused acquire took none of its keys, a granted one all") {
            try first.acquire(["file-9:9"], target: "/srv/other", sequence: 5)
        }
    }

    /// Polls `condition` every 10 ms for up to 5 s.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        while clock.now < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition()
    }
}
