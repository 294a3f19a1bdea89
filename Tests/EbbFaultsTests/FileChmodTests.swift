import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

@Suite(.ownThread) struct FileChmodTests {
    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test func theModeChangesAndTheUndoPutsTheOriginalBackVerified() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let file = try harness.file("app.conf", "port: 8080\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: file)

        let plan = try harness.inject(try harness.fault(#"file.chmod: { path: files/app.conf, mode: "000" }"#))
        #expect(try mode(file) == 0)
        #expect(throws: VerificationFailure.self) { try harness.verify(plan) }

        #expect(try harness.undo(plan) == .undone)
        #expect(try mode(file) == 0o640)
        #expect(try harness.undo(plan) == .undone, "a second undo is harmless")
        #expect(try mode(file) == 0o640)
    }

    @Test func undoBeforeInjectAndOnSomeoneElsesModeChangesNothing() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let file = try harness.file("app.conf", "x\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        let plan = try harness.fault(#"file.chmod: { path: files/app.conf, mode: "0400" }"#).plan(harness.context())
        #expect(try harness.undo(plan) == .undone)
        #expect(try mode(file) == 0o644)
        // Someone else chose another mode meanwhile: not the fault's, so left as they set it.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try harness.undo(plan) == .undone)
        #expect(try mode(file) == 0o600)
    }

    @Test func aFileReplacedAfterPlanningIsLeftAlone() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let file = try harness.file("app.conf", "old\n")
        let plan = try harness.fault(#"file.chmod: { path: files/app.conf, mode: "000" }"#).plan(harness.context())
        // Moved aside, not deleted: the new file cannot get the planned one's inode.
        try FileManager.default.moveItem(atPath: file, toPath: file + ".old")
        _ = try harness.file("app.conf", "new\n")
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: file)
        #expect(try harness.undo(plan) == .undone)
        #expect(try mode(file) == 0, "another file than the one planned on")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
    }

    @Test func badParametersAreRefusedAtLoad() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        #expect { _ = try harness.fault(#"file.chmod: { path: files/a, mode: "999" }"#) } throws: {
            "\($0)".contains("octal mode")
        }
        #expect { _ = try harness.fault(#"file.chmod: { path: /etc/passwd, mode: "000" }"#) } throws: {
            "\($0)".contains("outside")
        }
    }
}
