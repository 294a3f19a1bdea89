import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The journal is executed as code: a record names commands to run and files to overwrite. So,
/// as ssh does with its keys, Ebb refuses a state directory, run directory or record that is not
/// owned by the user running Ebb or that others may write.
public enum JournalTrust {
    /// Why `path` (a directory or record) must not be trusted; nil when it may.
    public static func problem(at path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return systemError("cannot stat", path).description }
        if info.st_mode & S_IFMT == S_IFLNK {
            return "\(path) is a symlink; Ebb refuses symlinks in its state directory"
        }
        if info.st_uid != geteuid() {
            return "\(path) is owned by uid \(info.st_uid), not by the user running ebb (uid \(geteuid())); "
                + "Ebb executes what its journal says, so it only trusts its own files"
        }
        if info.st_mode & 0o022 != 0 {
            return
                "\(path) is writable by \(info.st_mode & 0o020 != 0 ? "its group" : "others") (mode \(String(info.st_mode & 0o7777, radix: 8))); "
                + "Ebb executes what its journal says, so it refuses files others could change (chmod go-w \(path))"
        }
        return nil
    }

    /// Throws when the directory at `path` must not be trusted.
    public static func check(directory path: String) throws {
        if let problem = problem(at: path) { throw DurableFile.Failure(message: problem) }
    }
}
