import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fault that changes one file in place; all share the backup-and-restore undo. The change
/// acts on the file opened through its pinned directory and checked against the recorded
/// device and inode, so a symlink or another file swapped in after the backup is never touched.
struct FileFault: Fault {
    let target: FileTarget
    let change: @Sendable (PinnedTarget) throws -> Void

    func plan(_ context: FaultContext) throws -> FaultPlan { try target.plan(context) }
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws { try FileTarget.backUp(plan) }
    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let payload = try plan.undoData.decode(FileRestore.Payload.self)
        try FileTarget.withPinnedFile(payload, flags: O_RDWR) { fd, directory in
            try change(
                PinnedTarget(
                    fd: fd, directory: directory, name: (payload.path as NSString).lastPathComponent, path: payload.path
                ))
        }
    }
}

/// The file a change acts on: open for reading and writing, and its directory.
struct PinnedTarget {
    let fd: Int32
    let directory: Int32
    let name: String
    let path: String

    func fail(_ operation: String) -> FaultError {
        FaultError(description: systemError(operation, path).description)
    }
}

/// `file.corrupt`: overwrites bytes of the file with random data.
public enum FileCorrupt: FaultPlugin {
    public static let id = "file.corrupt"
    public static var undoHandlers: [any UndoHandler.Type] { [FileRestore.self] }
    public static let summary = "overwrite bytes of a file with random data; undo: restore the backup, verify sha256"
    public static let parameters = [
        FileTarget.pathParameter,
        ParameterSpec("bytes", .size, "how many bytes to overwrite (default 16)"),
        ParameterSpec("offset", .size, "where to start (default 0)"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let count = try parameters.size("bytes") ?? 16
        let offset = try parameters.size("offset") ?? 0
        guard count > 0, count <= 64 << 20 else { throw parameters.error("bytes", "bytes must be between 1 and 64M") }
        return FileFault(target: target) { file in
            // Random data differs from the original with near certainty; flip a bit where it does not.
            var original = [UInt8](repeating: 0, count: Int(count))
            let read = pread(file.fd, &original, original.count, off_t(offset))
            guard read >= 0 else { throw file.fail("read") }
            var bytes = (0..<Int(count)).map { _ in UInt8.random(in: 0...255) }
            if original.prefix(read).elementsEqual(bytes.prefix(read)), !bytes.isEmpty { bytes[0] ^= 0xff }
            try Pinned.write(file.fd, Data(bytes), at: off_t(offset), path: file.path)
            guard fsync(file.fd) == 0 else { throw file.fail("fsync") }
        }
    }
}

/// `file.truncate`: cuts the file to a size (default empty).
public enum FileTruncate: FaultPlugin {
    public static let id = "file.truncate"
    public static var undoHandlers: [any UndoHandler.Type] { [FileRestore.self] }
    public static let summary = "truncate a file to `size` (default 0); undo: restore the backup, verify sha256"
    public static let parameters = [
        FileTarget.pathParameter, ParameterSpec("size", .size, "the size to cut to (default 0)"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let size = try parameters.size("size") ?? 0
        return FileFault(target: target) { file in
            guard ftruncate(file.fd, off_t(size)) == 0 else { throw file.fail("truncate") }
        }
    }
}

/// `file.remove`: deletes the file.
public enum FileRemove: FaultPlugin {
    public static let id = "file.remove"
    public static var undoHandlers: [any UndoHandler.Type] { [FileRestore.self] }
    public static let summary = "delete a file; undo: restore the backup, verify sha256"
    public static let parameters = [FileTarget.pathParameter]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        FileFault(target: try FileTarget(parameters, suite: suite)) { file in
            // The name must still be the pinned file right before it goes (unlinkat never follows a symlink).
            var open = stat(), named = stat()
            guard fstat(file.fd, &open) == 0, fstatat(file.directory, file.name, &named, AT_SYMLINK_NOFOLLOW) == 0,
                open.st_dev == named.st_dev, open.st_ino == named.st_ino
            else {
                throw FaultError(description: "\(file.path) was replaced since preflight; not removing it")
            }
            guard unlinkat(file.directory, file.name, 0) == 0 else { throw file.fail("remove") }
        }
    }
}

/// `file.replace`: replaces the file's content with given text.
public enum FileReplace: FaultPlugin {
    public static let id = "file.replace"
    public static var undoHandlers: [any UndoHandler.Type] { [FileRestore.self] }
    public static let summary = "replace a file's content with `content`; undo: restore the backup, verify sha256"
    public static let parameters = [
        FileTarget.pathParameter, ParameterSpec("content", .string, required: true, "the new content"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let content = try parameters.string("content") ?? ""
        return FileFault(target: target) { file in
            // Written in place (not renamed) so the file keeps its inode, as an operator's edit would.
            guard ftruncate(file.fd, 0) == 0 else { throw file.fail("truncate") }
            try Pinned.write(file.fd, Data(content.utf8), at: 0, path: file.path)
            guard fsync(file.fd) == 0 else { throw file.fail("fsync") }
        }
    }
}
