import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// File operations with the durability and safety rules of the journal: a new file goes to a
/// temp file that is fsynced and renamed into place, then the directory is fsynced; a file that
/// exists only ever grows by appends (an undo record's later versions) or is replaced so;
/// directories are 0700, files 0600, and symlinks are refused. Foundation's atomic write does
/// not fsync, which is why this is written against the system calls.
public enum DurableFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ operation: String, _ path: String, errno code: Int32 = errno) {
            description = systemError(operation, path, errno: code).description
        }
        init(message: String) { description = message }
    }

    /// Writes `data` to `path` so that after return either the old or the new content survives a crash.
    /// With `durably` false the replacement is atomic (other processes see the old or the new
    /// content) but not yet fsynced.
    public static func write(_ data: Data, to path: String, durably: Bool = true) throws {
        let temporary = try writeTemporary(data, for: path, durably: durably)
        try rename(temporary, to: path)
        if durably { try syncDirectory((path as NSString).deletingLastPathComponent) }
    }

    /// Writes every file of `files` as ``write(_:to:durably:)`` does, durable on return, with one
    /// commit for the batch instead of one per file: every temp file is written first, then all
    /// are fsynced, renamed into place, and each directory is fsynced once. A crash at any point
    /// leaves each path with its old or its new content, and whichever it is, it was durable.
    /// On a failure no temp file is left; files renamed already keep their new content.
    /// Without `syncingDirectories`, the contents are durable on return but the new names only
    /// once the caller fsyncs the directories (``syncDirectories(_:)``), with others of its own.
    public static func write(_ files: [(data: Data, path: String)], syncingDirectories: Bool = true) throws {
        var temporaries: [String] = []
        defer { for temporary in temporaries where !temporary.isEmpty { unlink(temporary) } }
        for file in files {
            temporaries.append(try writeTemporary(file.data, for: file.path, durably: false))
        }
        try syncFiles(temporaries)
        for (index, file) in files.enumerated() {
            try rename(temporaries[index], to: file.path)
            temporaries[index] = ""
        }
        if syncingDirectories { try syncDirectories(files.map { ($0.path as NSString).deletingLastPathComponent }) }
    }

    /// Writes `data` to a new temp file beside `path` (0600, `O_EXCL|O_NOFOLLOW`), fsynced when
    /// `durably`; returns its path. Nothing is left behind on a failure.
    private static func writeTemporary(_ data: Data, for path: String, durably: Bool) throws -> String {
        try refuseSymlink(path)
        let temporary = temporaryName(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("create", temporary) }
        var failure: Failure?
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = Failure("write", temporary)
                    return
                }
                offset += written
            }
        }
        if failure == nil && durably && fsync(fd) != 0 { failure = Failure("fsync", temporary) }
        close(fd)
        if let failure {
            unlink(temporary)
            throw failure
        }
        return temporary
    }

    /// A new name beside `path` for its next content. A random part as well as the pid: two
    /// threads of one process may write the same file (a record's registry copy is written by
    /// the runner and by the deadline heartbeat).
    private static func temporaryName(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return "\(directory)/.tmp-\(name)-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))"
    }

    /// Whether `link(2)` failed with `code` because no hard link can be made there (another
    /// file system, one without hard links, too many links), so a file of its own must serve.
    static func noLinkPossible(_ code: Int32) -> Bool {
        code == EXDEV || code == EPERM || code == EMLINK
    }

    /// Gives each `path` the content of its `source` as a second name of the same file: a hard
    /// link, renamed into place as ``write(_:to:durably:)`` renames, so either the old or the new
    /// content is at `path`. A copy made so costs no new inode, no data written and no fsync of
    /// its own (a fifth of a run's CPU was the kernel allocating inodes for journal files); the
    /// source is durable through its own write. Where no link can be made (another file system)
    /// the content is written as a copy, its content durable either way. With `durably`, each
    /// directory is fsynced once; without, the caller fsyncs them (``syncDirectories(_:)``).
    /// A source is only ever replaced by rename or appended to (see ``append(_:to:)``), so a
    /// second name sees its every version and never a rewrite in mid-way.
    public static func mirror(_ files: [(source: String, path: String)], durably: Bool) throws {
        for file in files {
            try refuseSymlink(file.path)
            let temporary = temporaryName(for: file.path)
            if link(file.source, temporary) == 0 {
                try rename(temporary, to: file.path)
            } else if noLinkPossible(errno) {
                try rename(try writeTemporary(read(file.source), for: file.path, durably: true), to: file.path)
            } else {
                throw Failure("link", file.source)
            }
        }
        if durably { try syncDirectories(files.map { ($0.path as NSString).deletingLastPathComponent }) }
    }

    /// Appends `data` to the existing file at `path` in one write, not yet fsynced (see
    /// ``syncFiles(_:)``); a crash may cut it short, never what was there before. Refuses
    /// symlinks and never creates the file.
    public static func append(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw Failure(message: "\(path) is a symlink; Ebb refuses symlinks in its state directory")
            }
            throw Failure("open", path)
        }
        defer { close(fd) }
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure("append to", path)
                }
                offset += written
            }
        }
    }

    /// Fsyncs the content of the files at `paths` side by side, not their directories: for files
    /// appended to, whose names are durable already, and for temp files before their rename.
    public static func syncFiles(_ paths: [String]) throws {
        try fsyncAll(paths, directory: false)
    }

    /// Whether `path` and `other` name one file (hard links of each other).
    public static func isSameFile(_ path: String, _ other: String) -> Bool {
        var first = stat()
        var second = stat()
        guard lstat(path, &first) == 0, lstat(other, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    private static func rename(_ temporary: String, to path: String) throws {
        guard Glibc.rename(temporary, path) == 0 else {
            let failure = Failure("rename", path)
            unlink(temporary)
            throw failure
        }
    }

    /// Fsyncs each directory of `paths` once, side by side.
    public static func syncDirectories(_ paths: [String]) throws {
        var directories: [String] = []
        for path in paths where !directories.contains(path) { directories.append(path) }
        try fsyncAll(directories, directory: true)
    }

    /// Fsyncs `paths` side by side: fsyncs that wait at the same time are served together (a
    /// journaling file system commits them as one, a device takes their writes in parallel), so
    /// a batch costs about one round instead of one each (100 small files on this project's CI
    /// disk: 26 ms at once, 360 ms one after another).
    private static func fsyncAll(_ paths: [String], directory: Bool) throws {
        if let failure = fsyncEach(paths, directory: directory).lazy.compactMap({ $0 }).first { throw failure }
    }

    /// Fsyncs `paths` side by side, as ``fsyncAll(_:directory:)``; returns each one's failure.
    private static func fsyncEach(_ paths: [String], directory: Bool) -> [Failure?] {
        Forks.map(paths.count, limit: 32) { index -> Failure? in
            let path = paths[index]
            let fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : O_NOFOLLOW))
            guard fd >= 0 else { return Failure("open", path) }
            defer { close(fd) }
            return fsync(fd) == 0 ? nil : Failure("fsync", path)
        }
    }

    /// Reads a file, refusing symlinks.
    public static func read(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw Failure(message: "\(path) is a symlink; Ebb refuses symlinks in its state directory")
            }
            throw Failure("open", path)
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        return try handle.readToEnd() ?? Data()
    }

    /// Creates `path` (and missing parents) as 0700 directories, refusing a symlink at `path`.
    /// Each new directory's entry is made durable (its parent fsynced) before this returns: a
    /// record or backup written into it durably must not be lost with the directory's name.
    public static func makeDirectory(_ path: String) throws {
        var directories = NewDirectories()
        try directories.make(path)
        try directories.commit()
    }

    /// Directories made one after another (with checks between them where the caller needs
    /// them), whose names become durable together in ``commit()``: their parents are fsynced
    /// side by side, one round instead of one per directory. A new run's state folder,
    /// `rollback/` and run directory took three rounds in a row before its first record.
    public struct NewDirectories {
        /// Each directory made and the folder whose fsync makes its name durable.
        private var made: [(path: String, parent: String)] = []

        public init() {}

        /// Creates `path` (and missing parents) as 0700 directories, refusing a symlink at
        /// `path`; their names are durable once ``commit()`` returns.
        public mutating func make(_ path: String) throws {
            try refuseSymlink(path)
            var info = stat()
            if lstat(path, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw Failure(message: "\(path) exists and is not a directory")
                }
                return
            }
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path { try make(parent) }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw Failure("mkdir", path) }
            made.append((path, parent.isEmpty ? "." : parent))
        }

        /// Fsyncs the folders of the directories made, side by side.
        public func commit() throws {
            let failures = fsyncEach(made.map(\.parent), directory: true)
            guard let index = failures.firstIndex(where: { $0 != nil }), let failure = failures[index] else { return }
            let path = made[index].path
            let reason = "its folder is fsynced, so it must be readable"
            throw Failure(message: "cannot make the new directory \(path) durable: \(failure) (\(reason))")
        }
    }

    /// Fsyncs a directory so that a rename or create inside it survives a crash.
    public static func syncDirectory(_ path: String) throws {
        try fsyncAll([path], directory: true)
    }

    public static func refuseSymlink(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
            throw Failure(message: "\(path) is a symlink; Ebb refuses symlinks in its state directory")
        }
    }
}
