import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fault that changes one file in place; all share the backup-and-restore undo.
struct FileFault: Fault {
    let target: FileTarget
    let change: @Sendable (String) throws -> Void

    func plan(_ context: FaultContext) throws -> FaultPlan { try target.plan(context) }
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws { try FileTarget.backUp(plan) }
    func inject(_ plan: FaultPlan, _ context: FaultContext) throws { try change(plan.target) }
}

/// `file.corrupt`: overwrites bytes of the file with random data.
public enum FileCorrupt: FaultPlugin {
    public static let id = "file.corrupt"
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
        return FileFault(target: target) { path in
            guard let handle = FileHandle(forUpdatingAtPath: path) else { throw FaultError(description: "cannot open \(path)") }
            defer { try? handle.close() }
            try handle.seek(toOffset: offset)
            var bytes = [UInt8](repeating: 0, count: Int(count))
            // Random data differs from the original with near certainty; flip a bit where it does not.
            let original = try handle.read(upToCount: Int(count)) ?? Data()
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
            if original.elementsEqual(bytes.prefix(original.count)), !bytes.isEmpty { bytes[0] ^= 0xff }
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data(bytes))
            try handle.synchronize()
        }
    }
}

/// `file.truncate`: cuts the file to a size (default empty).
public enum FileTruncate: FaultPlugin {
    public static let id = "file.truncate"
    public static let summary = "truncate a file to `size` (default 0); undo: restore the backup, verify sha256"
    public static let parameters = [FileTarget.pathParameter, ParameterSpec("size", .size, "the size to cut to (default 0)")]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let size = try parameters.size("size") ?? 0
        return FileFault(target: target) { path in
            guard truncate(path, off_t(size)) == 0 else {
                throw FaultError(description: "truncate \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// `file.remove`: deletes the file.
public enum FileRemove: FaultPlugin {
    public static let id = "file.remove"
    public static let summary = "delete a file; undo: restore the backup, verify sha256"
    public static let parameters = [FileTarget.pathParameter]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        FileFault(target: try FileTarget(parameters, suite: suite)) { path in
            guard unlink(path) == 0 else { throw FaultError(description: "remove \(path): \(String(cString: strerror(errno)))") }
        }
    }
}

/// `file.replace`: replaces the file's content with given text.
public enum FileReplace: FaultPlugin {
    public static let id = "file.replace"
    public static let summary = "replace a file's content with `content`; undo: restore the backup, verify sha256"
    public static let parameters = [FileTarget.pathParameter, ParameterSpec("content", .string, required: true, "the new content")]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let content = try parameters.string("content") ?? ""
        return FileFault(target: target) { path in
            // Written in place (not renamed) so the file keeps its inode, as an operator's edit would.
            guard let handle = FileHandle(forUpdatingAtPath: path) else { throw FaultError(description: "cannot open \(path)") }
            defer { try? handle.close() }
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(content.utf8))
            try handle.synchronize()
        }
    }
}
