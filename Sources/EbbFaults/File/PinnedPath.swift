import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file system object's identity: device and inode. Recorded at preflight and compared at
/// every later step, so a path swapped for another file, directory or symlink is never acted on.
public struct FileIdentity: Codable, Sendable, Equatable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    public var description: String { "\(device):\(inode)" }
}

/// Directory and file access pinned by identity: directories opened `O_DIRECTORY|O_NOFOLLOW`
/// and checked with `fstat`, entries reached with `openat`/`fstatat` relative to them, never
/// following a symlink.
enum Pinned {
    /// `path` split into its directory and last component.
    static func split(_ path: String) -> (directory: String, name: String) {
        ((path as NSString).deletingLastPathComponent, (path as NSString).lastPathComponent)
    }

    /// Opens directory `path`, refusing a symlink, and checks it is `identity` (when recorded).
    static func openDirectory(
        _ path: String, expecting identity: FileIdentity?
    ) throws -> (fd: Int32, identity: FileIdentity) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                throw FaultError(
                    description:
                        "\(path) is not a directory any more (a symlink or another file is in its place); refusing to touch it"
                )
            }
            throw FaultError(description: systemError("open", path, errno: code).description)
        }
        var info = stat()
        fstat(fd, &info)
        let found = FileIdentity(info)
        if let identity, identity != found {
            close(fd)
            throw FaultError(
                description:
                    "\(path) is another directory than at preflight (device:inode \(found), recorded \(identity)); refusing to touch it"
            )
        }
        return (fd, found)
    }

    /// `fstatat` of `name` in `directory` without following a symlink; nil when it does not exist.
    static func status(_ directory: Int32, _ name: String) throws -> stat? {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw FaultError(description: systemError("stat", name).description)
        }
        return info
    }

    /// Opens regular file `name` in `directory` without following a symlink, and checks it is
    /// `identity` (when recorded). `path` is for messages.
    static func openFile(
        _ directory: Int32, _ name: String, flags: Int32, expecting identity: FileIdentity?, path: String
    ) throws -> Int32 {
        let fd = openat(directory, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw FaultError(description: "\(path) is now a symlink; refusing to follow it") }
            throw FaultError(description: systemError("open", path).description)
        }
        var info = stat()
        fstat(fd, &info)
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FaultError(description: "\(path) is no longer a regular file; refusing to touch it")
        }
        if let identity, identity != FileIdentity(info) {
            close(fd)
            throw FaultError(
                description:
                    "\(path) is another file than at preflight (device:inode \(FileIdentity(info)), recorded \(identity)); refusing to touch it"
            )
        }
        return fd
    }

    /// Why a file faults may not act on an object of this type, or nil for a regular file.
    static func refusal(_ info: stat, _ path: String) -> String? {
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return info.st_nlink > 1
                ? "\(path) has \(info.st_nlink) hard links; a restore would give it a new inode and split them, so it is refused"
                : nil
        case S_IFIFO: return "\(path) is a FIFO; file faults act on regular files only"
        case S_IFCHR, S_IFBLK: return "\(path) is a device; file faults act on regular files only"
        case S_IFSOCK: return "\(path) is a socket; file faults act on regular files only"
        case S_IFDIR: return "\(path) is a directory; file faults act on regular files only"
        case S_IFLNK: return "\(path) is a symlink; file faults refuse symlinks (name the file itself)"
        default: return "\(path) is not a regular file"
        }
    }

    /// Every name in the directory open at `fd` (read through /proc, so the pinned directory and
    /// not whatever its path names now).
    static func names(_ fd: Int32) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd/\(fd)")) ?? []
    }

    /// Reads the whole file open at `fd` from its start.
    static func read(_ fd: Int32) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let count = pread(fd, &buffer, buffer.count, offset)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw FaultError(description: systemError("read").description) }
            if count == 0 { return data }
            data.append(contentsOf: buffer.prefix(count))
            offset += off_t(count)
        }
    }

    /// Writes all of `data` at `offset` of `fd`.
    static func write(_ fd: Int32, _ data: Data, at offset: off_t, path: String) throws {
        try data.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let count = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, offset + off_t(done))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw FaultError(description: systemError("write", path).description) }
                done += count
            }
        }
    }

    /// The real path of `path`; refuses a path that is, or goes through, a symlink (a symlink
    /// could be re-pointed between preflight and the fault).
    static func refuseSymlinks(_ path: String) throws -> String {
        guard let real = realpath(path, nil) else {
            throw FaultError(description: systemError("realpath", path).description)
        }
        defer { free(real) }
        let resolved = String(cString: real)
        guard resolved == path else {
            var info = stat()
            let isLink = lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
            throw FaultError(
                description: isLink
                    ? "\(path) is a symlink (to \(resolved)); file faults refuse symlinks: name the file itself"
                    : "\(path) goes through a symlink (it is \(resolved)); file faults refuse symlinks: name the real path"
            )
        }
        return resolved
    }
}
