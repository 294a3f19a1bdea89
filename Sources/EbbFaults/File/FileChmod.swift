import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `file.chmod`: changes a file's permission bits for the hold (say to 000, so the service
/// under test cannot read its config); the undo puts the original bits back.
public enum FileChmod: FaultPlugin {
    public static let id = "file.chmod"
    public static var undoHandlers: [any UndoHandler.Type] { [ModeRestore.self] }
    public static let summary =
        "set the permission bits of file `path` to `mode` for the hold; undo: put the original mode back, verified"
    public static let parameters = [
        FileTarget.pathParameter,
        ParameterSpec(
            "mode", .string, required: true, "the permission bits in octal, e.g. \"000\" or \"0400\" (quote it in YAML)"
        ),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let target = try FileTarget(parameters, suite: suite)
        let text = try parameters.string("mode")!
        guard let mode = UInt32(text, radix: 8), mode <= 0o7777 else {
            throw parameters.error("mode", "'\(text)' is not an octal mode from 0000 to 7777")
        }
        return ChmodFault(path: target.path, mode: mode)
    }

    struct ChmodFault: Fault {
        let path: String
        let mode: UInt32

        /// Pins the file and its directory and records its mode; touches nothing.
        func plan(_ context: FaultContext) throws -> FaultPlan {
            let resolved = try FileTarget.realPath(path)
            guard FileTarget.isInside(resolved, roots: context.suite.allowedRoots) else {
                throw FaultError(description: "\(path) resolves to \(resolved), outside the allowed roots")
            }
            let (directoryPath, name) = Pinned.split(resolved)
            let directory = try Pinned.openDirectory(directoryPath, expecting: nil)
            defer { close(directory.fd) }
            let file = try ModeRestore.open(directory.fd, name, path: resolved)
            defer { close(file.fd) }
            if let refusal = Pinned.refusal(file.info, resolved) { throw FaultError(description: refusal) }
            let original = UInt32(file.info.st_mode & 0o7777)
            guard original != mode else {
                throw FaultError(
                    description:
                        "\(resolved) already has mode \(ModeRestore.octal(mode)); the fault would change nothing")
            }
            let payload = ModeRestore.Payload(
                path: resolved, directory: directory.identity, file: FileIdentity(file.info),
                original: original, faulted: mode)
            return try FaultPlan(
                target: "\(resolved) (mode \(ModeRestore.octal(original)) -> \(ModeRestore.octal(mode)))",
                undo: ModeRestore.self, payload: payload,
                undoSummary: "chmod \(ModeRestore.octal(original)) \(resolved), verify the mode is back",
                lockKeys: ["file-\(FileIdentity(file.info))"])
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ModeRestore.Payload.self)
            try ModeRestore.withPinnedFile(payload) { fd, _ in
                try ModeRestore.change(fd, to: payload.faulted, payload.path)
            }
        }
    }
}

/// Undo kind `file.mode-restore`: puts the recorded mode back while the file still has the
/// fault's mode. Journals name this kind: never rename it.
public enum ModeRestore: UndoHandler {
    public struct Payload: Codable, Sendable {
        var path: String
        var directory: FileIdentity
        var file: FileIdentity
        var original: UInt32
        var faulted: UInt32
    }

    public static let kind = "file.mode-restore"

    /// Before the injection the mode is the original; a file deleted or replaced since, or given
    /// another mode by someone else, holds nothing of this fault: left alone.
    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try withPinnedFile(payload) { fd, info in
            if UInt32(info.st_mode & 0o7777) == payload.faulted { try change(fd, to: payload.original, payload.path) }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try withPinnedFile(payload) { _, info in
            if UInt32(info.st_mode & 0o7777) == payload.faulted {
                throw VerificationFailure("\(payload.path) still has mode \(octal(payload.faulted))")
            }
        }
    }

    /// Runs `body` on the recorded file, reached from its pinned directory; not at all when the
    /// file is gone or another one has its name.
    static func withPinnedFile(_ payload: Payload, _ body: (Int32, stat) throws -> Void) throws {
        let (directoryPath, name) = Pinned.split(payload.path)
        let directory = try Pinned.openDirectory(directoryPath, expecting: payload.directory)
        defer { close(directory.fd) }
        guard try Pinned.status(directory.fd, name) != nil else { return }
        let file = try open(directory.fd, name, path: payload.path)
        defer { close(file.fd) }
        guard FileIdentity(file.info) == payload.file else { return }
        try body(file.fd, file.info)
    }

    /// Opens `name` as a path only (`O_PATH`): a mode such as 000 must not keep the undo out.
    static func open(_ directory: Int32, _ name: String, path: String) throws -> (fd: Int32, info: stat) {
        let fd = openat(directory, name, pathOnly | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FaultError(description: systemError("open", path).description) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FaultError(description: "\(path) is not a regular file; refusing to touch it")
        }
        return (fd, info)
    }

    /// fchmod does not take an `O_PATH` descriptor; its /proc link reaches the same pinned inode.
    static func change(_ fd: Int32, to mode: UInt32, _ path: String) throws {
        guard chmod("/proc/self/fd/\(fd)", mode_t(mode)) == 0 else {
            throw FaultError(description: systemError("chmod", path).description)
        }
    }

    /// Linux's `O_PATH`, which Glibc's Swift module does not export.
    static let pathOnly: Int32 = 0o10000000

    static func octal(_ mode: UInt32) -> String { "0" + String(mode, radix: 8) }
}
