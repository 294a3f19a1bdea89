import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.ownThread) struct FileFaultTests {
    static let original = "line one\nline two: the original content\n"

    @Test(arguments: [
        ("file.corrupt: { path: files/t.conf, bytes: 8, offset: 2 }", "corrupt"),
        ("file.truncate: { path: files/t.conf, size: 4 }", "truncate"),
        ("file.remove: { path: files/t.conf }", "remove"),
        ("file.replace: { path: files/t.conf, content: \"mode = broken\" }", "replace"),
    ])
    func theFaultChangesTheFileAndTheUndoRestoresItExactly(yaml: String, action: String) throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        chmod(path, 0o640)
        let plan = try harness.inject(try harness.fault(yaml))
        let changed = try? String(contentsOfFile: path, encoding: .utf8)
        #expect(changed != Self.original, "\(action) changed the file")
        if action == "remove" { #expect(changed == nil) }
        if action == "truncate" { #expect(changed == "line") }
        if action == "replace" { #expect(changed == "mode = broken") }
        #expect(throws: VerificationFailure.self) { try harness.verify(plan) }

        #expect(try harness.undo(plan) == .undone)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Self.original)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o640)
        #expect(try harness.undo(plan) == .undone, "undo twice is harmless")
        let leftovers = try FileManager.default.contentsOfDirectory(
            atPath: (path as NSString).deletingLastPathComponent)
        #expect(leftovers == ["t.conf"], "no restore temp files remain")
    }

    @Test func anInterruptedRestoreOfThisRunIsCleanedUpAndOthersAreLeftAlone() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        let plan = try harness.inject(try harness.fault("file.truncate: { path: files/t.conf }"))
        let directory = (path as NSString).deletingLastPathComponent
        for name in [
            ".t.conf.ebb-testrun.restore", ".tmp-.t.conf.ebb-testrun.restore-4242", ".t.conf.ebb-otherrun.restore",
        ] {
            try "partial".write(toFile: "\(directory)/\(name)", atomically: false, encoding: .utf8)
        }
        #expect(try harness.undo(plan) == .undone)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [
                ".t.conf.ebb-otherrun.restore", "t.conf",
            ],
            "this run's half-written restores are gone; another run's file is not ours to delete")
    }

    @Test func undoBeforeInjectChangesNothing() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        let fault = try harness.fault("file.corrupt: { path: files/t.conf }")
        let plan = try fault.plan(harness.context())
        // A crash between arm and inject: the record exists, the backup may not, the file is intact.
        #expect(try harness.undo(plan) == .undone)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Self.original)
    }

    @Test func aDamagedBackupIsNeverRestored() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        let plan = try harness.inject(try harness.fault("file.truncate: { path: files/t.conf }"))
        let backup = try require(try plan.undoData.decode([String: JSONValue].self)["backup"]?.description)
        try "tampered".write(toFile: backup, atomically: true, encoding: .utf8)
        #expect(throws: VerificationFailure.self) { _ = try harness.undo(plan) }
        #expect(
            try String(contentsOfFile: path, encoding: .utf8) == "", "the damaged backup was not written over the file")
    }

    @Test func aSymlinkLeadingOutOfTheAllowedRootsIsRefused() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        _ = try harness.file("inside.txt", "x")
        let outside = harness.directory.appendingPathComponent("outside.txt").path
        try "secret".write(toFile: outside, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: harness.directory.appendingPathComponent("files/link").path,
            withDestinationPath: outside)
        let fault = try harness.fault("file.remove: { path: files/link }")
        #expect(throws: FaultError.self) { try fault.plan(harness.context()) }
        #expect(FileManager.default.fileExists(atPath: outside))
    }
}

@Suite(.ownThread) struct DiskAndCommandFaultTests {
    @Test func diskFillTakesTheSpaceAndTheUndoGivesItBack() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        _ = try harness.file("keep", "")
        let files = harness.directory.appendingPathComponent("files").path
        let before = try available(files)
        let plan = try harness.inject(try harness.fault("disk.fill: { path: files, size: 32M }"))
        let fill = try FileManager.default.contentsOfDirectory(atPath: files).filter {
            $0.hasPrefix(".ebb-fill-testrun-")
        }
        #expect(fill.count == 1, "one fill file, named after the run")
        #expect(before - (try available(files)) >= 30 << 20, "at least ~32 MiB are taken")
        #expect(try harness.undo(plan) == .undone)
        #expect(try FileManager.default.contentsOfDirectory(atPath: files) == ["keep"])
        #expect(try harness.undo(plan) == .undone, "undo twice is harmless")
    }

    @Test func diskFillRefusesToWriteMoreThanMaxSize() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        _ = try harness.file("keep", "")
        let fault = try harness.fault("disk.fill: { path: files, percent: 100, max_size: 1M }")
        #expect(throws: FaultError.self) { try fault.plan(harness.context()) }
    }

    @Test func commandRunsInjectThenRollbackAndVerify() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let flag = harness.directory.appendingPathComponent("flag").path
        let plan = try harness.inject(
            try harness.fault(
                "command: { inject: [touch, flag], rollback: [rm, -f, flag], verify: [sh, -c, \"! test -e flag\"] }"))
        #expect(FileManager.default.fileExists(atPath: flag))
        #expect(throws: VerificationFailure.self) { try harness.verify(plan) }
        #expect(try harness.undo(plan) == .undone)
        #expect(!FileManager.default.fileExists(atPath: flag))
    }

    @Test func aFailingRollbackCommandIsAnUndoFailure() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let plan = try harness.inject(
            try harness.fault("command: { inject: [true], rollback: [sh, -c, \"echo nope >&2; exit 7\"] }"))
        #expect {
            _ = try harness.undo(plan)
        } throws: { error in
            "\(error)".contains("exited with status 7") && "\(error)".contains("nope")
        }
    }

    func available(_ path: String) throws -> UInt64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw Missing() }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }
}
