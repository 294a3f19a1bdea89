import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// File faults pin their file (and its directory) by device and inode from preflight to
/// restore: a symlink or a swapped directory put in between is never followed, and what the
/// restore cannot keep (owner, special bits, xattrs) is kept or refused, never lost silently.
@Suite(.ownThread) struct FilePinningTests {
    static let original = "line one\nline two: the original content\n"

    @Test func aSymlinkSwappedInBetweenBackupAndInjectIsNotFollowed() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        let outside = harness.directory.appendingPathComponent("outside.txt").path
        try "outside content".write(toFile: outside, atomically: true, encoding: .utf8)
        let fault = try harness.fault("file.truncate: { path: files/t.conf }")
        let context = harness.context()
        let plan = try fault.plan(context)
        try fault.prepare(plan, context)
        // Between the backup and the injection, the file becomes a symlink to another file.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: outside)
        #expect(throws: (any Error).self) { try fault.inject(plan, context) }
        #expect(
            try String(contentsOfFile: outside, encoding: .utf8) == "outside content",
            "the file the symlink points to is untouched")
    }

    @Test func aDirectorySwappedForASymlinkBeforeRestoreIsNotFollowed() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let files = harness.directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(
            at: files.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Self.original.write(to: files.appendingPathComponent("sub/t.conf"), atomically: true, encoding: .utf8)
        let plan = try harness.inject(try harness.fault("file.truncate: { path: files/sub/t.conf }"))
        // Someone moves the directory away and puts a symlink to another directory in its place.
        let victim = harness.directory.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        try "victim content".write(to: victim.appendingPathComponent("t.conf"), atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(
            at: files.appendingPathComponent("sub"), to: files.appendingPathComponent("sub.moved"))
        try FileManager.default.createSymbolicLink(
            atPath: files.appendingPathComponent("sub").path, withDestinationPath: victim.path)

        #expect(throws: (any Error).self) { _ = try harness.undo(plan) }
        #expect(
            try String(contentsOf: victim.appendingPathComponent("t.conf"), encoding: .utf8) == "victim content",
            "the restore did not write through the symlinked directory")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: victim.path) == ["t.conf"],
            "no temp file was left in the other directory")
    }

    @Test(.enabled(if: getuid() == 0, "chown to another owner needs root"))
    func restoreKeepsOwnerAndSetuidBit() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("tool", Self.original)
        #expect(chown(path, 4321, 4321) == 0)
        #expect(chmod(path, 0o4755) == 0, "chmod after chown: the setuid bit is set")
        let plan = try harness.inject(try harness.fault("file.remove: { path: files/tool }"))
        #expect(try harness.undo(plan) == .undone)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o4755, "setuid kept: got \(String(info.st_mode & 0o7777, radix: 8))")
        #expect(info.st_uid == 4321 && info.st_gid == 4321)
    }

    @Test func restoreKeepsExtendedAttributes() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        let value = Array("kept".utf8)
        guard Attributes.set(path, "user.ebb-test", value) == 0 else {
            // Only a filesystem without user xattrs gets here; the check below would mean nothing.
            Issue.record("this filesystem refuses user xattrs: \(String(cString: strerror(errno)))")
            return
        }
        let plan = try harness.inject(try harness.fault("file.remove: { path: files/t.conf }"))
        #expect(try harness.undo(plan) == .undone)
        #expect(Attributes.get(path, "user.ebb-test") == value, "the xattr came back with the file")
    }

    @Test func aHardLinkedFileIsRefusedAtPreflight() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        #expect(link(path, path + ".other") == 0)
        let fault = try harness.fault("file.corrupt: { path: files/t.conf }")
        #expect { try fault.plan(harness.context()) } throws: { "\($0)".contains("hard link") }
    }

    @Test func aFIFOIsRefusedAtPreflight() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        _ = try harness.file("keep", "")
        let fifo = harness.directory.appendingPathComponent("files/pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let fault = try harness.fault("file.replace: { path: files/pipe, content: x }")
        #expect { try fault.plan(harness.context()) } throws: { "\($0)".contains("FIFO") }
    }

    @Test func aSymlinkInsideTheAllowedRootsIsRefusedWithItsPath() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("real.conf", Self.original)
        try FileManager.default.createSymbolicLink(atPath: path + ".link", withDestinationPath: path)
        let fault = try harness.fault("file.corrupt: { path: files/real.conf.link }")
        #expect { try fault.plan(harness.context()) } throws: {
            "\($0)".contains("real.conf.link") && "\($0)".contains("symlink")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Self.original)
    }

    @Test func aRecordFromBeforePinningStillRestores() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let path = try harness.file("t.conf", Self.original)
        var plan = try harness.inject(try harness.fault("file.truncate: { path: files/t.conf }"))
        // An old journal's payload: no device/inode, no xattrs.
        guard case .object(var fields) = plan.undoData else { throw Missing() }
        for key in ["file", "directory", "attributes"] {
            #expect(fields.removeValue(forKey: key) != nil, "\(key) is recorded now")
        }
        plan.undoData = .object(fields)
        #expect(try harness.undo(plan) == .undone)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Self.original)
    }

    @Test func diskFillRemovesOnlyItsOwnFillFile() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        _ = try harness.file("keep", "")
        let files = harness.directory.appendingPathComponent("files").path
        let plan = try harness.inject(try harness.fault("disk.fill: { path: files, size: 1M }"))
        let name = try require(
            try FileManager.default.contentsOfDirectory(atPath: files).first { $0.hasPrefix(".ebb-fill-") })
        // The fill file is replaced by another file of the same name: not the one the fault made.
        #expect(rename("\(files)/\(name)", "\(files)/moved-fill") == 0)
        try "someone else's".write(toFile: "\(files)/\(name)", atomically: false, encoding: .utf8)
        #expect(throws: (any Error).self) { _ = try harness.undo(plan) }
        #expect(
            try String(contentsOfFile: "\(files)/\(name)", encoding: .utf8) == "someone else's",
            "a file that is not the fill file is never deleted")
    }
}

/// getxattr/setxattr, which Glibc's Swift module does not declare, looked up at run time.
enum Attributes {
    typealias Set = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer, Int, Int32) -> Int32
    typealias Get = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int

    static func set(_ path: String, _ name: String, _ value: [UInt8]) -> Int32 {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setxattr") else { return -1 }
        return unsafeBitCast(symbol, to: Set.self)(path, name, value, value.count, 0)
    }

    static func get(_ path: String, _ name: String) -> [UInt8]? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getxattr") else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes {
            unsafeBitCast(symbol, to: Get.self)(path, name, $0.baseAddress, 256)
        }
        return count < 0 ? nil : Array(buffer.prefix(count))
    }
}
