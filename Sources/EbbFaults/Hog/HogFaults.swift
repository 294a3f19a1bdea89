import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `hog.cpu`: busy threads in a worker process of their own.
public enum HogCPU: FaultPlugin {
    public static let id = "hog.cpu"
    public static var undoHandlers: [any UndoHandler.Type] { [HogStop.self] }
    public static let summary =
        "keep `workers` cores busy (stress-ng when installed, else Ebb's own worker), ending by itself at the fault's deadline; undo: kill it, verify it is gone"
    public static let parameters = [
        ParameterSpec("workers", .integer, "busy threads (default: one per core)"),
        HogEngine.parameter,
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let workers = try parameters.integer("workers") ?? ProcessInfo.processInfo.activeProcessorCount
        guard (1...1024).contains(workers) else { throw parameters.error("workers", "workers must be from 1 to 1024") }
        return HogFault(kind: .cpu, threads: workers, bytes: 0, directory: nil, engine: try HogEngine(parameters))
    }
}

/// `hog.memory`: resident memory held by a worker process of its own.
public enum HogMemory: FaultPlugin {
    public static let id = "hog.memory"
    public static var undoHandlers: [any UndoHandler.Type] { [HogStop.self] }
    public static let summary =
        "hold `size` bytes of resident memory (stress-ng when installed, else Ebb's own worker), ending by itself at the fault's deadline; undo: kill it, verify it is gone"
    public static let parameters = [
        ParameterSpec(
            "size", .size, required: true,
            "bytes to allocate and keep resident (e.g. 512M); at most 80% of the memory available at preflight"),
        HogEngine.parameter,
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let size = try parameters.size("size")!
        guard size > 0 else { throw parameters.error("size", "size must be above zero") }
        return HogFault(kind: .memory, threads: 1, bytes: size, directory: nil, engine: try HogEngine(parameters))
    }
}

/// `hog.io`: a worker that writes and fsyncs in a directory of the suite's allowed roots.
public enum HogIO: FaultPlugin {
    public static let id = "hog.io"
    public static var undoHandlers: [any UndoHandler.Type] { [HogStop.self] }
    public static let summary =
        "write and sync blocks in `path` (at most 64 MiB per file; stress-ng when installed, else Ebb's own worker) until the fault's deadline; undo: kill the workers, delete their files, verify both"
    public static let parameters = [
        ParameterSpec("path", .string, required: true, "a directory inside one of the suite's allowed_roots"),
        ParameterSpec("workers", .integer, "writing threads, one file each (default 1)"),
        HogEngine.parameter,
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let directory = try FileTarget.directory(parameters, "path", suite: suite)
        let workers = try parameters.integer("workers") ?? 1
        guard (1...64).contains(workers) else { throw parameters.error("workers", "workers must be from 1 to 64") }
        return HogFault(kind: .io, threads: workers, bytes: 0, directory: directory, engine: try HogEngine(parameters))
    }
}

/// The three hogs share one life: plan a marker, spawn the load (stress-ng, or `ebb hog-worker`)
/// in its own session with that marker in its environment, and let `hog.stop` find it by the marker.
struct HogFault: Fault {
    let kind: HogWorker.Kind
    let threads: Int
    let bytes: UInt64
    let directory: String?
    let engine: HogEngine

    func plan(_ context: FaultContext) throws -> FaultPlan {
        if kind == .memory {
            let available = Self.availableMemory()
            guard bytes <= available / 10 * 8 else {
                throw FaultError(
                    description:
                        "hog.memory of \(bytes) bytes is more than 80% of the \(available) bytes available; the OOM killer could end something that is not ours"
                )
            }
        }
        let resolved = try directory.map { try FileTarget.realDirectory($0, context) }
        // The directory is pinned: the undo deletes the hog's files only in this very directory.
        let identity = try resolved.map { path -> FileIdentity in
            let pinned = try Pinned.openDirectory(path, expecting: nil)
            close(pinned.fd)
            return pinned.identity
        }
        let payload = HogStop.Payload(
            marker: "\(context.runID)/\(context.sequence)", kind: kind.rawValue, directory: resolved,
            filePrefix: ".ebb-hog-\(context.runID)-\(context.sequence)-", directoryIdentity: identity)
        let engine = try self.engine.resolved()
        var target: String
        switch kind {
        case .cpu: target = "\(threads) busy thread(s)"
        case .memory: target = "\(bytes) bytes resident"
        case .io: target = "\(threads) writer(s) in \(resolved ?? "?")"
        }
        target += " (\(engine.rawValue))"
        return try FaultPlan(
            target: target, undo: HogStop.self, payload: payload,
            undoSummary: "kill the worker marked \(HogStop.environmentKey)=\(payload.marker)"
                + (resolved == nil ? "" : " and delete its files"))
    }

    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let payload = try plan.undoData.decode(HogStop.Payload.self)
        if let directory = payload.directory {
            // Still the directory of preflight (not a symlink or another directory put in its place).
            close(try Pinned.openDirectory(directory, expecting: payload.directoryIdentity).fd)
        }
        let command: [String]
        switch try engine.resolved() {
        case .stressNG: command = try stressNGCommand(payload, until: context.deadline)
        case .builtin, .auto:
            command =
                [
                    "ebb", "hog-worker", "--kind", kind.rawValue, "--threads", String(threads), "--bytes",
                    String(bytes),
                    "--until", String(format: "%.3f", context.deadline.timeIntervalSince1970), "--file-prefix",
                    payload.filePrefix,
                ]
                + (payload.directory.map { ["--directory", $0] } ?? [])
        }
        // A session of its own: the worker outlives a kill of Ebb's process group, and stops
        // at its deadline by itself.
        _ = try ChildProcess.spawn(
            command, environment: [HogStop.environmentKey: payload.marker],
            outputPath: context.runDirectory.appending(path: "hog-\(context.sequence).log").path,
            newSession: true)
    }

    /// stress-ng's equivalent of the worker; its `--timeout` is the deadline. An I/O hog writes
    /// into a directory with the fault's prefix, which `hog.stop` finds, and which a small shell
    /// removes once stress-ng ends by itself (stress-ng empties it but cannot remove it).
    private func stressNGCommand(_ payload: HogStop.Payload, until deadline: Date) throws -> [String] {
        let timeout = "\(max(1, Int(deadline.timeIntervalSinceNow.rounded(.up))))s"
        // --keep-name: renaming its workers would overwrite their environment, and with it the marker.
        let stressNG = [SystemTool.path("stress-ng"), "--timeout", timeout, "--metrics-brief", "--keep-name"]
        switch kind {
        case .cpu: return stressNG + ["--cpu", String(threads)]
        case .memory: return stressNG + ["--vm", "1", "--vm-bytes", String(bytes), "--vm-hang", "0"]
        case .io:
            let directory = "\(payload.directory ?? ".")/\(payload.filePrefix)stress-ng"
            let pinned = try Pinned.openDirectory(payload.directory ?? ".", expecting: payload.directoryIdentity)
            defer { close(pinned.fd) }
            guard mkdirat(pinned.fd, "\(payload.filePrefix)stress-ng", 0o700) == 0 else {
                throw FaultError(description: systemError("create", directory).description)
            }
            return [
                "/bin/sh", "-c", "dir=$1; shift; \"$@\"; status=$?; rm -rf -- \"$dir\"; exit $status", "sh", directory,
            ]
                + stressNG + ["--hdd", String(threads), "--hdd-bytes", "64m", "--temp-path", directory]
        }
    }

    static func availableMemory() -> UInt64 {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }
        return (line?.split(separator: " ").dropFirst().first).flatMap { UInt64($0) }.map { $0 * 1024 } ?? 0
    }
}

/// What produces a hog's load: stress-ng (the tool SREs know, with its own `--timeout`) where it
/// is installed, else Ebb's own worker. Both end themselves at the fault's deadline.
enum HogEngine: String, Sendable {
    case auto
    case stressNG = "stress-ng"
    case builtin

    static let parameter = ParameterSpec(
        "engine", .string, "auto (default: stress-ng when installed, else Ebb's own worker), stress-ng or builtin")

    init(_ parameters: FaultParameters) throws {
        let text = try parameters.string("engine") ?? "auto"
        guard let engine = HogEngine(rawValue: text) else {
            throw parameters.error("engine", "'\(text)' is not an engine; use auto, stress-ng or builtin")
        }
        self = engine
    }

    /// The engine to use on this machine; asking for stress-ng where it is missing is an error.
    func resolved() throws -> HogEngine {
        let installed = SystemTool.isInstalled("stress-ng")
        switch self {
        case .auto: return installed ? .stressNG : .builtin
        case .stressNG:
            guard installed else {
                throw FaultError(
                    description: "stress-ng is not installed (Debian package stress-ng); use engine: builtin")
            }
            return .stressNG
        case .builtin: return .builtin
        }
    }
}
