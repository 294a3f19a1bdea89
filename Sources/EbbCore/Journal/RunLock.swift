import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a run directory (`flock` on its `lock` file), or on one of its records
/// (see ``RecordStore``). The runner holds it for its
/// whole life; the kernel drops it when the process dies, even by SIGKILL, which is how a dead
/// run is told from a live one without trusting pids.
public final class RunLock: Sendable {
    /// The locked file, -1 once released: taken by exchange, so it is closed once only.
    private let descriptor: Atomic<Int32>

    /// The file in a run directory whose `flock` is the run's lock.
    public static let fileName = "lock"

    /// Takes the lock of `runDirectory`; returns nil when another process holds it.
    public static func acquire(_ runDirectory: URL) throws -> RunLock? {
        try acquire(file: runDirectory.appending(path: fileName).path)
    }

    /// Opens the lock file at `path` for locking, created 0600 if missing; symlinks refused.
    static func openFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DurableFile.Failure(message: systemError("cannot open", path).description) }
        return fd
    }

    /// Takes the lock on the file at `path` (created 0600 if missing); nil when another process holds it.
    public static func acquire(file path: String) throws -> RunLock? {
        let fd = try openFile(path)
        var result: Int32
        repeat { result = flock(fd, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            close(fd)
            return nil
        }
        return RunLock(descriptor: fd)
    }

    /// Takes byte `index` of the file at `path` (created 0600 if missing) with an open-file-description
    /// lock (`F_OFD_SETLK`), the kind of lock `flock` takes but on one byte: one file holds the
    /// locks of every record of a run, instead of a file (an inode) per record. Like `flock`, it
    /// is held until ``release()`` or the process dies; nil when another process holds it.
    public static func acquire(file path: String, byte index: Int) throws -> RunLock? {
        let fd = try openFile(path)
        var range = flock()
        range.l_type = Int16(F_WRLCK)
        range.l_whence = Int16(SEEK_SET)
        range.l_start = off_t(index)
        range.l_len = 1
        // F_OFD_SETLK (Linux 3.15) is declared only under _GNU_SOURCE; its value is 37.
        var result: Int32
        repeat { result = fcntl(fd, 37, &range) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let failure = errno
            close(fd)
            guard failure == EAGAIN || failure == EACCES else {
                throw DurableFile.Failure(message: systemError("cannot lock", path, errno: failure).description)
            }
            return nil
        }
        return RunLock(descriptor: fd)
    }

    /// Whether some process holds the lock of `runDirectory`. Probes with a shared lock and
    /// never creates the lock file, so reading the journal changes nothing. A lock seen held is
    /// probed again for up to 50 ms: a child being spawned by the process that just released
    /// it shares the lock's open file until its exec, and that is not a live run.
    public static func isHeld(_ runDirectory: URL) -> Bool {
        let fd = open(runDirectory.appending(path: fileName).path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        for attempt in 0..<6 {
            if flock(fd, LOCK_SH | LOCK_NB) == 0 {
                flock(fd, LOCK_UN)
                return false
            }
            guard errno == EWOULDBLOCK || errno == EINTR else { return false }
            if attempt < 5 { Thread.sleep(forTimeInterval: 0.01) }
        }
        return true
    }

    private init(descriptor: Int32) { self.descriptor = Atomic(descriptor) }

    public func release() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { close(fd) }
    }

    deinit { release() }
}
