import Crypto
import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The file a file fault acts on, confined to the suite's `allowed_roots`.
struct FileTarget: Sendable {
    let path: String

    static let pathParameter = ParameterSpec("path", .string, required: true, "the file, inside one of the suite's allowed_roots")

    init(_ parameters: FaultParameters, suite: SuiteContext) throws {
        let path = suite.resolve(try parameters.string("path")!)
        guard !suite.allowedRoots.isEmpty else {
            throw parameters.error("path", "file faults need 'allowed_roots' at the top of the suite, naming the directories they may touch")
        }
        guard Self.isInside(path, roots: suite.allowedRoots) else {
            throw parameters.error("path", "\(path) is outside the allowed roots (\(suite.allowedRoots.joined(separator: ", ")))")
        }
        self.path = path
    }

    static func isInside(_ path: String, roots: [String]) -> Bool {
        roots.contains { root in
            let root = root.hasSuffix("/") ? String(root.dropLast()) : root
            return path == root || path.hasPrefix(root + "/")
        }
    }

    /// Checks, at plan time, that the real file (symlinks resolved) is a regular file inside the roots.
    func resolve(_ context: FaultContext) throws -> String {
        let resolved = try Self.realPath(path)
        let roots = context.suite.allowedRoots.map { (try? Self.realPath($0)) ?? $0 }
        guard Self.isInside(resolved, roots: roots) else {
            throw FaultError(description: "\(path) resolves to \(resolved), outside the allowed roots")
        }
        var info = stat()
        guard stat(resolved, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw FaultError(description: "\(resolved) is not a regular file")
        }
        return resolved
    }

    /// The directory parameter `name`, resolved against the suite and refused outside its
    /// allowed roots (for faults that write into a directory: disk.fill, hog.io).
    static func directory(_ parameters: FaultParameters, _ name: String, suite: SuiteContext) throws -> String {
        let directory = suite.resolve(try parameters.string(name)!)
        guard !suite.allowedRoots.isEmpty, isInside(directory, roots: suite.allowedRoots) else {
            throw parameters.error(name, "\(directory) is outside the suite's allowed_roots (\(suite.allowedRoots.joined(separator: ", ")))")
        }
        return directory
    }

    /// `directory` with symlinks resolved at plan time, refused if it now leads outside the roots.
    static func realDirectory(_ directory: String, _ context: FaultContext) throws -> String {
        let real = try realPath(directory)
        guard isInside(real, roots: context.suite.allowedRoots.map { (try? realPath($0)) ?? $0 }) else {
            throw FaultError(description: "\(directory) resolves to \(real), outside the allowed roots")
        }
        return real
    }

    /// `path` with every symlink resolved.
    static func realPath(_ path: String) throws -> String {
        guard let real = realpath(path, nil) else {
            throw FaultError(description: "\(path): \(String(cString: strerror(errno)))")
        }
        defer { free(real) }
        return String(cString: real)
    }

    /// Plans a fault on this file: the undo restores a backup kept in the run directory.
    func plan(_ context: FaultContext) throws -> FaultPlan {
        let resolved = try resolve(context)
        // The undo renames a restored copy into place: without a writable directory it could
        // never run, so such a fault is not injected at all.
        let directory = (resolved as NSString).deletingLastPathComponent
        guard access(directory, W_OK) == 0 else {
            throw FaultError(description: "\(directory) is not writable, so \(resolved) could not be restored; not injecting")
        }
        var info = stat()
        stat(resolved, &info)
        let backup = context.runDirectory.appendingPathComponent("backups")
            .appendingPathComponent(String(format: "%04d-", context.sequence) + (resolved as NSString).lastPathComponent).path
        let payload = FileRestore.Payload(path: resolved, backup: backup, sha256: try FileDigest.sha256(of: resolved),
                                          mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid)
        return try FaultPlan(target: resolved, undoKind: FileRestore.kind, undoData: payload,
                             undoSummary: "restore \(resolved) from its backup, verify sha256 \(payload.sha256.prefix(12))...")
    }

    /// Copies the original into the run directory, durably, before anything is armed or changed.
    static func backUp(_ plan: FaultPlan) throws {
        let payload = try plan.undoData.decode(FileRestore.Payload.self)
        try DurableFile.makeDirectory((payload.backup as NSString).deletingLastPathComponent)
        try DurableFile.write(try DurableFile.read(payload.path), to: payload.backup)
        guard try FileDigest.sha256(of: payload.backup) == payload.sha256 else {
            throw FaultError(description: "\(payload.path) changed while it was being backed up; not injecting")
        }
    }
}

/// SHA-256 of files, streamed so large files do not fill memory.
enum FileDigest {
    static func sha256(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FaultError(description: "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
