import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `disk.fill`: fills the filesystem holding a directory, with one file owned by the run.
public enum DiskFill: FaultPlugin {
    public static let id = "disk.fill"
    public static var undoHandlers: [any UndoHandler.Type] { [FillRemove.self] }
    public static let summary =
        "fill the filesystem holding `path` to `percent` used or by `size`; undo: delete the fill file, verify the space is back"
    public static let parameters = [
        ParameterSpec(
            "path", .string, required: true,
            "a directory inside one of the suite's allowed_roots; the fill file goes there"),
        ParameterSpec("percent", .number, "fill until this share of the filesystem is used (as df counts it)"),
        ParameterSpec("size", .size, "or: write this many bytes (e.g. 64M)"),
        ParameterSpec(
            "max_size", .size, "refuse to write more than this (default 1G), a guard against filling a real disk"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let directory = try FileTarget.directory(parameters, "path", suite: suite)
        let percent = try parameters.number("percent")
        let size = try parameters.size("size")
        guard (percent == nil) != (size == nil) else {
            throw parameters.error("percent", "give exactly one of percent or size")
        }
        if let percent, !(percent > 0 && percent <= 100) {
            throw parameters.error("percent", "percent must be in (0, 100]")
        }
        return FillFault(
            directory: directory, amount: percent.map(Amount.percent) ?? .bytes(size!),
            maximum: try parameters.size("max_size") ?? (1 << 30))
    }

    enum Amount: Sendable {
        case percent(Double)
        case bytes(UInt64)
    }

    struct FillFault: Fault {
        let directory: String
        let amount: Amount
        let maximum: UInt64

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let resolved = try FileTarget.realDirectory(directory, context)
            let space = try FilesystemSpace(directory)
            let bytes: UInt64
            switch amount {
            case .bytes(let value): bytes = min(value, space.available)
            case .percent(let percent):
                let wanted = UInt64(Double(space.usable) * percent / 100)
                bytes = wanted > space.used ? min(wanted - space.used, space.available) : 0
            }
            guard bytes <= maximum else {
                throw FaultError(
                    description:
                        "filling \(directory) needs \(bytes) bytes, above max_size \(maximum); raise max_size if you mean it"
                )
            }
            let pinned = try Pinned.openDirectory(resolved, expecting: nil)
            close(pinned.fd)
            let file = "\(resolved)/.ebb-fill-\(context.runID)-\(context.sequence)"
            let identityFile = context.runDirectory.appending(path: "fills")
                .appending(path: String(format: "%04d.identity", context.sequence)).path
            let payload = FillRemove.Payload(
                file: file, bytes: bytes, availableBefore: space.available, total: space.total,
                directory: pinned.identity, identityFile: identityFile)
            return try FaultPlan(
                target: "\(directory) (\(bytes) bytes of \(space.available) free)", undo: FillRemove.self,
                payload: payload, undoSummary: "delete \(file), verify the space is free again",
                lockKeys: ["fill-\(pinned.identity)"])
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(FillRemove.Payload.self)
            let (path, name) = Pinned.split(payload.file)
            let directory = try Pinned.openDirectory(path, expecting: payload.directory)
            defer { close(directory.fd) }
            let fd = openat(directory.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FaultError(description: systemError("create", payload.file).description) }
            defer { close(fd) }
            // The fill file's identity, durable before it takes any space: the undo deletes only this inode.
            if let identityFile = payload.identityFile {
                var info = stat()
                fstat(fd, &info)
                try DurableFile.makeDirectory((identityFile as NSString).deletingLastPathComponent)
                try DurableFile.write(try JSONEncoder().encode(FileIdentity(info)), to: identityFile)
            }
            guard payload.bytes > 0 else { return }
            // fallocate reserves real blocks at once; where it is refused, write until full.
            if posix_fallocate(fd, 0, off_t(payload.bytes)) == 0 { return }
            let chunk = [UInt8](repeating: 0, count: 1 << 20)
            var written: UInt64 = 0
            while written < payload.bytes {
                let count = write(fd, chunk, Int(min(UInt64(chunk.count), payload.bytes - written)))
                if count < 0 && errno == EINTR { continue }
                if count < 0 && errno == ENOSPC { break }  // full: what the fault is for
                guard count > 0 else {
                    throw FaultError(
                        description: systemError(
                            "writing \(payload.file) stopped after \(written) of \(payload.bytes) bytes"
                        ).description)
                }
                written += UInt64(count)
            }
            guard fsync(fd) == 0 || errno == ENOSPC else {
                throw FaultError(description: systemError("fsync", payload.file).description)
            }
        }
    }
}

/// Undo kind `disk.fill-remove`: deletes the run's fill file, and only it: the name in the
/// pinned directory must be a regular file with the inode the injection recorded.
public enum FillRemove: UndoHandler {
    public struct Payload: Codable, Sendable {
        var file: String
        var bytes: UInt64
        var availableBefore: UInt64
        var total: UInt64
        /// The directory at preflight; absent in records from before pinning.
        var directory: FileIdentity?
        /// Where the injection wrote the fill file's identity (in the run directory).
        var identityFile: String?
    }

    public static let kind = "disk.fill-remove"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let (path, name) = Pinned.split(payload.file)
        let directory: Int32
        do {
            directory = try Pinned.openDirectory(path, expecting: payload.directory).fd
        } catch {
            throw VerificationFailure("cannot delete \(payload.file): \(error)")
        }
        defer { close(directory) }
        guard let info = try Pinned.status(directory, name) else { return .undone }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw VerificationFailure(
                "\(payload.file) is not a regular file, so not the fill file; refusing to delete it")
        }
        // No identity file: the injection stopped between creating the file (O_EXCL, with the
        // run's id in its name) and recording it; the name alone proves it ours.
        if let identityFile = payload.identityFile.map(context.runFile), let data = try? DurableFile.read(identityFile),
            let recorded = try? JSONDecoder().decode(FileIdentity.self, from: data), recorded != FileIdentity(info)
        {
            throw VerificationFailure(
                "\(payload.file) is another file than the fill file (device:inode \(FileIdentity(info)), recorded \(recorded)); refusing to delete it"
            )
        }
        guard unlinkat(directory, name, 0) == 0 || errno == ENOENT else {
            throw VerificationFailure(systemError("delete", payload.file).description)
        }
        fsync(directory)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        var info = stat()
        guard lstat(payload.file, &info) != 0 else {
            throw VerificationFailure("\(payload.file) is still there")
        }
        // Other writers share the filesystem, so "back" allows 1% of it (at least 16 MiB) of drift.
        let directory = (payload.file as NSString).deletingLastPathComponent
        let now = try FilesystemSpace(directory).available
        let slack = max(payload.total / 100, 16 << 20)
        guard now + slack >= payload.availableBefore else {
            throw VerificationFailure(
                "only \(now) bytes are free in \(directory), \(payload.availableBefore) were before the fill")
        }
    }
}

/// Space on a filesystem as an unprivileged writer sees it (`f_bavail`, not `f_bfree`).
struct FilesystemSpace {
    var total: UInt64
    var available: UInt64
    /// What `df` counts as the size: used plus available to unprivileged users.
    var usable: UInt64
    var used: UInt64

    init(_ directory: String) throws {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else {
            throw FaultError(description: systemError("statvfs", directory).description)
        }
        let block = UInt64(info.f_frsize)
        total = UInt64(info.f_blocks) * block
        available = UInt64(info.f_bavail) * block
        used = (UInt64(info.f_blocks) - min(UInt64(info.f_bfree), UInt64(info.f_blocks))) * block
        usable = used + available
    }
}
