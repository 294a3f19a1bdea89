import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Per-target locks across runs: two runs faulting one target at once would back up each
/// other's damage (the second run's backup of a file is the first run's corruption). A fault
/// whose plan names ``FaultPlan/lockKeys`` takes a `flock` on `<state-dir>/locks/<key>` before it
/// is armed, and the runner holds it until the fault is rolled back. The lock file holds the
/// holder's run id, so a refused run can say who holds the target.
///
/// The kernel drops a `flock` when its holder dies: after a runner crash the guardian or
/// `rollback execute` reverts without it. Lock files are never deleted (deleting a lock file
/// races with another run locking it).
public final class TargetLocks: Sendable {
    /// A target another run holds.
    public struct Conflict: Error, CustomStringConvertible {
        public var description: String
    }

    private let directory: String
    private let runID: String
    private let held = Mutex(Held())

    /// What this run holds: faults of one scenario take their locks from several threads.
    private struct Held {
        /// Open lock files by key, with how many of this run's faults hold each one (a run may
        /// fault one target twice; its own undos run newest-first, so that is safe).
        var files: [String: (fd: Int32, count: Int)] = [:]
        /// The keys each fault (by record sequence) took.
        var bySequence: [Int: [String]] = [:]
    }

    public init(stateDirectory: URL, runID: String) {
        directory = stateDirectory.appending(path: "locks").path
        self.runID = runID
    }

    deinit {
        held.withLock { held in
            for entry in held.files.values { close(entry.fd) }
        }
    }

    /// Takes every key of the fault with record `sequence`, or none: throws ``Conflict`` naming
    /// the run that holds one of them.
    public func acquire(_ keys: [String], target: String, sequence: Int) throws {
        guard !keys.isEmpty else { return }
        try held.withLock { held in
            try DurableFile.makeDirectory(directory)
            var taken: [String] = []
            do {
                for key in Set(keys).sorted() {
                    try lock(key, target: target, into: &held)
                    taken.append(key)
                }
            } catch {
                for key in taken { Self.unlock(key, from: &held) }
                throw error
            }
            held.bySequence[sequence, default: []] += taken
        }
    }

    /// Releases the keys of the faults with these record sequences (once they are rolled back).
    public func release(sequences: [Int]) {
        held.withLock { held in
            for sequence in sequences {
                for key in held.bySequence.removeValue(forKey: sequence) ?? [] { Self.unlock(key, from: &held) }
            }
        }
    }

    private func lock(_ key: String, target: String, into held: inout Held) throws {
        if let entry = held.files[key] {
            held.files[key] = (entry.fd, entry.count + 1)
            return
        }
        let path = "\(directory)/\(Self.fileName(key))"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DurableFile.Failure(message: systemError("cannot open the target lock", path).description)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(fd)
            close(fd)
            throw Conflict(
                description:
                    "\(target) is locked by run \(holder ?? "?") (another ebb run is faulting it: \(path)); not injecting"
            )
        }
        // Who holds it, for the run that is refused; the lock itself is the flock.
        let note = "\(runID) pid \(getpid())\n"
        ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        held.files[key] = (fd, 1)
    }

    private static func unlock(_ key: String, from held: inout Held) {
        guard let entry = held.files[key] else { return }
        if entry.count > 1 {
            held.files[key] = (entry.fd, entry.count - 1)
            return
        }
        held.files.removeValue(forKey: key)
        close(entry.fd)  // drops the flock
    }

    /// The run id the holder wrote, if it did yet.
    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self).split(separator: " ").first.map(String.init)
    }

    /// A file name for `key`: letters, digits, `.`, `_` and `-` kept, anything else `_`.
    static func fileName(_ key: String) -> String {
        String(key.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" }) + ".lock"
    }
}
