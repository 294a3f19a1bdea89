import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Undo kind `hog.stop`: kills every process that carries the fault's marker, removes the
/// files an I/O hog writes, and verifies that neither is left.
public enum HogStop: UndoHandler {
    public struct Payload: Codable, Sendable {
        /// `EBB_HOG=<marker>` in the environment of the worker: `<run id>/<sequence>`.
        public var marker: String
        public var kind: String
        /// Where an I/O hog writes, and the prefix of its files there.
        public var directory: String?
        public var filePrefix: String
        /// The directory at preflight; absent in records from before pinning.
        public var directoryIdentity: FileIdentity?
    }

    public static let kind = "hog.stop"
    static let environmentKey = "EBB_HOG"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let workers = ProcessTable.carrying(environmentKey, payload.marker)
        for group in Set(workers.map(\.processGroup)) { kill(-group, SIGKILL) }
        for worker in workers {
            kill(worker.pid, SIGKILL)
            _ = ChildProcess.waitUntilGone(worker.pid, startTime: worker.startTime, timeout: .seconds(5))
        }
        // stress-ng's I/O hog leaves a directory with the fault's prefix; the worker leaves files.
        if let directory = payload.directory {
            let pinned: Int32
            do {
                pinned = try Pinned.openDirectory(directory, expecting: payload.directoryIdentity).fd
            } catch {
                throw VerificationFailure("cannot delete the hog's files: \(error)")
            }
            defer { close(pinned) }
            // Through the pinned descriptor: a directory swapped in since preflight is never entered.
            for name in Pinned.names(pinned) where name.hasPrefix(payload.filePrefix) {
                if unlinkat(pinned, name, 0) != 0, errno == EISDIR {
                    try? FileManager.default.removeItem(atPath: "/proc/self/fd/\(pinned)/\(name)")
                }
            }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let workers = ProcessTable.carrying(environmentKey, payload.marker)
        guard workers.isEmpty else { throw VerificationFailure("hog workers still run: pids \(workers.map(\.pid))") }
        let files = leftFiles(payload)
        guard files.isEmpty else { throw VerificationFailure("hog files remain: \(files.joined(separator: ", "))") }
    }

    /// The I/O hog's files: only names with this fault's own prefix.
    static func leftFiles(_ payload: Payload) -> [String] {
        guard let directory = payload.directory else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(payload.filePrefix) }.map { "\(directory)/\($0)" }
    }
}
