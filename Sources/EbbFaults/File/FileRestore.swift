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
        chmod(temporary, mode_t(payload.mode))
        chown(temporary, payload.owner, payload.group)
        guard rename(temporary, payload.path) == 0 else {
            let problem = String(cString: strerror(errno))
            unlink(temporary)
            throw VerificationFailure("cannot put \(payload.path) back: \(problem)")
        }
        try DurableFile.syncDirectory(directory)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let current = try? FileDigest.sha256(of: payload.path)
        guard current == payload.sha256 else {
            throw VerificationFailure("\(payload.path) does not match the original (sha256 \(current ?? "missing") != \(payload.sha256))")
        }
    }
}
