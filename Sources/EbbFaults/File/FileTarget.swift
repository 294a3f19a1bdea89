import Crypto
import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The file a file fault acts on, confined to the suite's `allowed_roots`.
struct FileTarget: Sendable {
    let path: String

    static let pathParameter = ParameterSpec(
        "path", .string, required: true, "the file, inside one of the suite's allowed_roots")

    init(_ parameters: FaultParameters, suite: SuiteContext) throws {
        let path = suite.resolve(try parameters.string("path")!)
        guard !suite.allowedRoots.isEmpty else {
            throw parameters.error(
                "path",
                "file faults need 'allowed_roots' at the top of the suite, naming the directories they may touch")
        }
        guard Self.isInside(path, roots: suite.allowedRoots) else {
            throw parameters.error(
                "path", "\(path) is outside the allowed roots (\(suite.allowedRoots.joined(separator: ", ")))")
        }
        self.path = path
    }

    static func isInside(_ path: String, roots: [String]) -> Bool {
        roots.contains { root in
            let root = root.hasSuffix("/") ? String(root.dropLast()) : root
            return path == root || path.hasPrefix(root + "/")
        }
    }

    /// Checks, at plan time, that the path is a regular file inside the roots, with no symlink
    /// on the way and no other hard link (a restore gives it a new inode, which would split them).
    func resolve(_ context: FaultContext) throws -> String {
        let resolved = try Pinned.refuseSymlinks(path)
        let roots = context.suite.allowedRoots.map { (try? Self.realPath($0)) ?? $0 }
        guard Self.isInside(resolved, roots: roots) else {
            throw FaultError(description: "\(path) resolves to \(resolved), outside the allowed roots")
        }
        var info = stat()
        guard lstat(resolved, &info) == 0 else {
            throw FaultError(description: systemError("lstat", resolved).description)
        }
        if let refusal = Pinned.refusal(info, resolved) { throw FaultError(description: refusal) }
        return resolved
    }

    /// The directory parameter `name`, resolved against the suite and refused outside its
    /// allowed roots (for faults that write into a directory: disk.fill, hog.io).
    static func directory(_ parameters: FaultParameters, _ name: String, suite: SuiteContext) throws -> String {
        let directory = suite.resolve(try parameters.string(name)!)
        guard !suite.allowedRoots.isEmpty, isInside(directory, roots: suite.allowedRoots) else {
            throw parameters.error(
                name,
                "\(directory) is outside the suite's allowed_roots (\(suite.allowedRoots.joined(separator: ", ")))")
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
            throw FaultError(description: systemError("realpath", path).description)
        }
        defer { free(real) }
        return String(cString: real)
    }

    /// Plans a fault on this file: the undo restores a backup kept in the run directory. The
    /// file and its directory are pinned by device and inode from here to the restore.
    func plan(_ context: FaultContext) throws -> FaultPlan {
        let resolved = try resolve(context)
        // The undo renames a restored copy into place: without a writable directory it could
        // never run, so such a fault is not injected at all.
        let (directory, name) = Pinned.split(resolved)
        guard access(directory, W_OK) == 0 else {
            throw FaultError(
                description: "\(directory) is not writable, so \(resolved) could not be restored; not injecting")
        }
        let pinned = try Pinned.openDirectory(directory, expecting: nil)
        defer { close(pinned.fd) }
        let fd = try Pinned.openFile(pinned.fd, name, flags: O_RDONLY, expecting: nil, path: resolved)
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        if let refusal = Pinned.refusal(info, resolved) { throw FaultError(description: refusal) }
        let backup = context.runDirectory.appending(path: "backups")
            .appending(path: String(format: "%04d-", context.sequence) + name).path
        let payload = FileRestore.Payload(
            path: resolved, backup: backup, sha256: FileDigest.sha256(of: try Pinned.read(fd)),
            mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid,
            file: FileIdentity(info), directory: pinned.identity,
            attributes: ExtendedAttributes.read(fd))
        return try FaultPlan(
            target: resolved, undo: FileRestore.self, payload: payload,
            undoSummary: "restore \(resolved) from its backup, verify sha256 \(payload.sha256.prefix(12))...",
            lockKeys: ["file-\(FileIdentity(info))"])
    }

    /// Copies the original into the run directory, durably, before anything is armed or changed;
    /// read from the pinned file, so a file swapped in since preflight is refused.
    static func backUp(_ plan: FaultPlan) throws {
        let payload = try plan.undoData.decode(FileRestore.Payload.self)
        let data = try withPinnedFile(payload, flags: O_RDONLY) { fd, _ in try Pinned.read(fd) }
        guard FileDigest.sha256(of: data) == payload.sha256 else {
            throw FaultError(description: "\(payload.path) changed while it was being backed up; not injecting")
        }
        try DurableFile.makeDirectory((payload.backup as NSString).deletingLastPathComponent)
        try DurableFile.write(data, to: payload.backup)
    }

    /// Runs `body` on the recorded file, opened with `flags` through its pinned directory and
    /// checked to be the same inode as at preflight (what injections act on: never a path).
    static func withPinnedFile<Result>(
        _ payload: FileRestore.Payload, flags: Int32,
        _ body: (_ fd: Int32, _ directory: Int32) throws -> Result
    ) throws -> Result {
        let (directory, name) = Pinned.split(payload.path)
        let pinned = try Pinned.openDirectory(directory, expecting: payload.directory)
        defer { close(pinned.fd) }
        let fd = try Pinned.openFile(pinned.fd, name, flags: flags, expecting: payload.file, path: payload.path)
        defer { close(fd) }
        return try body(fd, pinned.fd)
    }
}

/// SHA-256 of files, streamed so large files do not fill memory.
enum FileDigest {
    static func sha256(of data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

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
