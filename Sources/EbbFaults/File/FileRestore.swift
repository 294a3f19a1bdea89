import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Undo kind `file.restore`: puts the backed-up original back atomically and verifies its checksum.
/// Shared by every file fault: whatever they did, the undo is "the original content, mode and owner".
public enum FileRestore: UndoHandler {
    public struct Payload: Codable, Sendable {
        var path: String
        var backup: String
        var sha256: String
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
    }

    public static let kind = "file.restore"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        var payload = payload
        payload.backup = context.runFile(payload.backup)
        removeInterruptedRestores(payload, context)
        // Idempotent: the original content in place means nothing to do (never injected, or already restored).
        if let current = try? FileDigest.sha256(of: payload.path), current == payload.sha256 { return .undone }
        guard FileManager.default.fileExists(atPath: payload.backup) else {
            throw VerificationFailure("the backup \(payload.backup) is missing, so \(payload.path) cannot be restored")
        }
        guard try FileDigest.sha256(of: payload.backup) == payload.sha256 else {
            throw VerificationFailure("the backup \(payload.backup) does not match the original's checksum; refusing to restore it")
        }
        let directory = (payload.path as NSString).deletingLastPathComponent
        let temporary = "\(directory)/.\((payload.path as NSString).lastPathComponent).ebb-\(context.runID).restore"
        try DurableFile.write(try DurableFile.read(payload.backup), to: temporary)
        guard chmod(temporary, mode_t(payload.mode)) == 0, chown(temporary, payload.owner, payload.group) == 0 else {
            let problem = String(cString: strerror(errno))
            unlink(temporary)
            throw VerificationFailure("cannot give the restored \(payload.path) its mode and owner: \(problem)")
        }
        guard rename(temporary, payload.path) == 0 else {
            let problem = String(cString: strerror(errno))
            unlink(temporary)
            throw VerificationFailure("cannot put \(payload.path) back: \(problem)")
        }
        try DurableFile.syncDirectory(directory)
        return .undone
    }

    /// A restore cut short (the runner killed mid-undo) leaves its temp copy beside the file.
    /// Its name carries this run's id, which proves it is ours to delete (invariant 5).
    static func removeInterruptedRestores(_ payload: Payload, _ context: UndoContext) {
        let directory = (payload.path as NSString).deletingLastPathComponent
        let marker = ".\((payload.path as NSString).lastPathComponent).ebb-\(context.runID).restore"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.contains(marker) {
            unlink("\(directory)/\(name)")
        }
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let current = try? FileDigest.sha256(of: payload.path)
        guard current == payload.sha256 else {
            throw VerificationFailure("\(payload.path) does not match the original (sha256 \(current ?? "missing") != \(payload.sha256))")
        }
        var info = stat()
        guard stat(payload.path, &info) == 0, UInt32(info.st_mode & 0o7777) == payload.mode else {
            throw VerificationFailure("\(payload.path) has its content back but not its mode \(String(payload.mode, radix: 8))")
        }
    }
}
