import Foundation

/// One record file as found on disk: readable, or damaged (and then reported, never skipped).
public enum RecordEntry: Sendable {
    case record(UndoRecord, path: String)
    case damaged(path: String, problem: String)

    public var path: String {
        switch self {
        case .record(_, let path), .damaged(let path, _): return path
        }
    }
}

/// A run as found in the journal.
public struct RunSnapshot: Sendable {
    public var directory: URL
    /// nil when `run.json` is missing or damaged; `problem` then says why.
    public var info: RunInfo?
    public var problem: String?
    public var entries: [RecordEntry]
    /// Some process holds the run's lock: its runner (or a recovery) is at work.
    public var isLive: Bool
    /// Interrupted writes (temp files never renamed into place). A new record that never got
    /// renamed was never armed, so its fault was never injected; an interrupted update leaves the
    /// previous complete version in place. Listed so nothing passes unseen.
    public var interruptedWrites: [String]

    /// The run id: from run.json, else from the directory name.
    public var id: String {
        info?.id ?? String(directory.lastPathComponent.split(separator: "-").last ?? "?")
    }

    public var records: [UndoRecord] {
        entries.compactMap { if case .record(let record, _) = $0 { return record } else { return nil } }
    }

    public var damaged: [(path: String, problem: String)] {
        entries.compactMap { if case .damaged(let path, let problem) = $0 { return (path, problem) } else { return nil } }
    }

    /// Not live, and something may still be injected or cannot be read.
    public var needsRecovery: Bool {
        !isLive && (records.contains { $0.state.isPending } || !damaged.isEmpty || problem != nil)
    }
}

/// Reads the journal under a state directory without changing it.
public struct JournalReader: Sendable {
    public let stateDirectory: URL

    public init(stateDirectory: URL) { self.stateDirectory = stateDirectory }

    /// The reader of the state directory that holds `runDirectory` (`<state>/rollback/<run>`).
    public init(holding runDirectory: URL) {
        stateDirectory = runDirectory.deletingLastPathComponent().deletingLastPathComponent()
    }

    public var rollbackDirectory: URL { stateDirectory.appendingPathComponent("rollback") }

    /// Every run, oldest first.
    public func runs() throws -> [RunSnapshot] {
        let root = rollbackDirectory.path
        try DurableFile.refuseSymlink(stateDirectory.path)
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        try DurableFile.refuseSymlink(root)
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
        return try names.map { try run(at: rollbackDirectory.appendingPathComponent($0)) }
    }

    /// The run whose id (or directory name) is `id`.
    public func run(id: String) throws -> RunSnapshot? {
        try runs().first { $0.id == id || $0.directory.lastPathComponent == id }
    }

    public func run(at directory: URL) throws -> RunSnapshot {
        try DurableFile.refuseSymlink(directory.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        var info: RunInfo?
        var problem: String?
        do {
            info = try JSONDecoder.journal.decode(RunInfo.self, from: DurableFile.read(directory.appendingPathComponent("run.json").path))
        } catch {
            problem = "run.json: \(Self.describe(error))"
        }
        let entries: [RecordEntry] = names.filter { $0.hasSuffix(".json") && $0 != "run.json" && !$0.hasPrefix(".") }.map { name in
            let path = directory.appendingPathComponent(name).path
            do {
                return .record(try JSONDecoder.journal.decode(UndoRecord.self, from: DurableFile.read(path)), path: path)
            } catch {
                return .damaged(path: path, problem: Self.describe(error))
            }
        }
        return RunSnapshot(directory: directory, info: info, problem: problem, entries: entries,
                           isLive: RunLock.isHeld(directory),
                           interruptedWrites: names.filter { $0.hasPrefix(".tmp-") }.map { directory.appendingPathComponent($0).path })
    }

    /// Runs that are not live and still have pending or unreadable records.
    public func runsNeedingRecovery() throws -> [RunSnapshot] {
        try runs().filter(\.needsRecovery)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return "not valid JSON (\(context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription))"
        case DecodingError.keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "bad field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
