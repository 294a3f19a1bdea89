import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Takes runs out of the journal on a person's word: a run that can never be recovered (its
/// host is gone, a record can never verify, its directory is half-written) would otherwise
/// block every later `ebb run`. Nothing is deleted: the run moves to `<state>/archive/`.
public enum JournalArchive {
    /// Moves `run` to `<stateDirectory>/archive/<directory name>` and returns the new place.
    /// Refuses a live run (its runner or a recovery holds the lock).
    public static func forget(_ run: RunSnapshot, stateDirectory: URL) throws -> URL {
        let lock = run.isStray ? nil : try RunLock.acquire(run.directory)
        if !run.isStray && lock == nil {
            throw DurableFile.Failure(
                message: "run \(run.id) is live (its runner or a recovery holds the lock); not forgetting it")
        }
        defer { lock?.release() }
        let archive = stateDirectory.appending(path: "archive")
        try DurableFile.makeDirectory(archive.path)
        var destination = archive.appending(path: run.directory.lastPathComponent)
        if FileManager.default.fileExists(atPath: destination.path) {
            let stamped = "\(run.directory.lastPathComponent)-\(Int(Date().timeIntervalSince1970))"
            destination = archive.appending(path: stamped)
        }
        guard rename(run.directory.path, destination.path) == 0 else {
            throw DurableFile.Failure(
                message: systemError("cannot move \(run.directory.path) to", destination.path).description)
        }
        try DurableFile.syncDirectory(run.directory.deletingLastPathComponent().path)
        try DurableFile.syncDirectory(archive.path)
        return destination
    }
}
