import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Undo kind `file.restore`: puts the backed-up original back atomically and verifies its checksum.
/// Shared by every file fault: whatever they did, the undo is "the original content, mode, owner
/// and extended attributes".
///
/// Everything happens relative to the file's directory, opened without following symlinks and
/// checked against the device and inode recorded at preflight: the restored copy is created
/// `O_EXCL` under a random name there, given its owner before its mode (chown clears setuid and
/// setgid) and then its xattrs (ACLs, file capabilities, which chown also clears), and renamed
/// over the name with `renameat`. A directory swapped for a symlink is refused, not followed.
public enum FileRestore: UndoHandler {
    public struct Payload: Codable, Sendable {
        var path: String
        var backup: String
        var sha256: String
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
        /// The file and its directory at preflight. Absent in records from before pinning:
        /// those restore by path, as they were written to.
        var file: FileIdentity?
        var directory: FileIdentity?
        /// Extended attributes at preflight (name: base64 value), put back with the content.
        var attributes: [String: String]?
    }

    public static let kind = "file.restore"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        var payload = payload
        // From the registry copy once the journal is gone (see UndoContext.runFile).
        payload.backup = context.runFile(payload.backup)
        let (directoryPath, name) = Pinned.split(payload.path)
        let directory = try pinnedDirectory(payload)
        defer { close(directory) }
        removeInterruptedRestores(name, in: directory, context)
        // Idempotent: the original in place means nothing to do (never injected, or already restored).
        let difference: String?
        do { difference = try problem(payload, in: directory) } catch { difference = "\(error)" }
        if difference == nil { return .undone }
        guard FileManager.default.fileExists(atPath: payload.backup) else {
            throw VerificationFailure("the backup \(payload.backup) is missing, so \(payload.path) cannot be restored")
        }
        let data = try DurableFile.read(payload.backup)
        guard FileDigest.sha256(of: data) == payload.sha256 else {
            throw VerificationFailure(
                "the backup \(payload.backup) does not match the original's checksum; refusing to restore it")
        }
        // A random name created O_EXCL: nothing planted under a predictable name is ever written through.
        let random = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let temporary = ".\(name).ebb-\(context.runID).restore-\(random)"
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw VerificationFailure(systemError("create", "\(directoryPath)/\(temporary)").description)
        }
        var failure: String?
        do {
            try Pinned.write(fd, data, at: 0, path: "\(directoryPath)/\(temporary)")
        } catch {
            failure = "\(error)"
        }
        // Owner first: chown clears setuid/setgid and file capabilities, which come after it.
        if failure == nil, fchown(fd, payload.owner, payload.group) != 0 || fchmod(fd, mode_t(payload.mode)) != 0 {
            failure = systemError("cannot give the restored \(payload.path) its mode and owner").description
        }
        var lost: [String] = []
        if failure == nil { lost = ExtendedAttributes.write(payload.attributes ?? [:], to: fd) }
        if failure == nil, fsync(fd) != 0 { failure = systemError("fsync", temporary).description }
        close(fd)
        if failure == nil, renameat(directory, temporary, directory, name) != 0 {
            failure = systemError("cannot put \(payload.path) back").description
        }
        if let failure {
            unlinkat(directory, temporary, 0)
            throw VerificationFailure(failure)
        }
        fsync(directory)
        // Content, mode and owner are back; verification reports any attribute that is not.
        if !lost.isEmpty {
            context.logger.warning(
                "restored \(payload.path) without extended attributes: \(lost.joined(separator: ", "))")
        }
        return .undone
    }

    /// A restore cut short (the runner killed mid-undo) leaves its temp copy beside the file.
    /// Its name carries this run's id, which proves it is ours to delete (ARCHITECTURE.md invariant 6).
    static func removeInterruptedRestores(_ name: String, in directory: Int32, _ context: UndoContext) {
        let marker = ".\(name).ebb-\(context.runID).restore"
        for entry in Pinned.names(directory) where entry.contains(marker) {
            unlinkat(directory, entry, 0)
        }
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let directory = try pinnedDirectory(payload)
        defer { close(directory) }
        if let problem = try problem(payload, in: directory) { throw VerificationFailure(problem) }
    }

    /// What differs between the file now and the recorded original (nil: nothing).
    static func problem(_ payload: Payload, in directory: Int32) throws -> String? {
        let name = (payload.path as NSString).lastPathComponent
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            return "\(payload.path) does not match the original (sha256 missing != \(payload.sha256))"
        }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(payload.path) is not a regular file" }
        let current = FileDigest.sha256(of: try Pinned.read(fd))
        guard current == payload.sha256 else {
            return "\(payload.path) does not match the original (sha256 \(current) != \(payload.sha256))"
        }
        guard UInt32(info.st_mode & 0o7777) == payload.mode else {
            return
                "\(payload.path) has its content back but not its mode \(String(payload.mode, radix: 8)) (it is \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        guard info.st_uid == payload.owner, info.st_gid == payload.group else {
            return
                "\(payload.path) has its content back but not its owner \(payload.owner):\(payload.group) (it is \(info.st_uid):\(info.st_gid))"
        }
        let missing = ExtendedAttributes.missing(payload.attributes ?? [:], on: fd)
        guard missing.isEmpty else {
            return
                "\(payload.path) has its content, mode and owner back but not its extended attributes \(missing.joined(separator: ", "))"
        }
        return nil
    }

    /// The file's directory, opened without following symlinks and checked against the record.
    static func pinnedDirectory(_ payload: Payload) throws -> Int32 {
        do {
            return try Pinned.openDirectory(Pinned.split(payload.path).directory, expecting: payload.directory).fd
        } catch {
            throw VerificationFailure("cannot restore \(payload.path): \(error)")
        }
    }
}
