import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
    /// Record files whose last version was cut short (see ``UndoRecord/latest(in:)``): the
    /// version before it is the record. Listed so nothing passes unseen.
    public var unfinishedVersions: [String] = []
    /// An entry of `rollback/` that is not a run directory at all (a stray file): reported, and
    /// never a reason to block a run.
    public var isStray = false
    /// The run is settled (see ``RunInfo/settled``) and its records were not read, because the
    /// reader was only looking for runs to recover.
    public var recordsSkipped = false

    /// The run id: from run.json, else from the directory name.
    public var id: String {
        info?.id ?? String(directory.lastPathComponent.split(separator: "-").last ?? "?")
    }

    public var records: [UndoRecord] {
        entries.compactMap { if case .record(let record, _) = $0 { return record } else { return nil } }
    }

    public var damaged: [(path: String, problem: String)] {
        entries.compactMap {
            if case .damaged(let path, let problem) = $0 { return (path, problem) } else { return nil }
        }
    }

    /// Every record reverted or irreversible, none damaged or half-written, and run.json readable:
    /// nothing of this run can be in place any more.
    public var isSettled: Bool {
        info != nil && problem == nil && damaged.isEmpty && interruptedWrites.isEmpty && unfinishedVersions.isEmpty
            && !records.contains { $0.state.isPending }
    }

    /// Not live, and something may still be injected or cannot be read.
    public var needsRecovery: Bool {
        !isStray && !isLive && (records.contains { $0.state.isPending } || !damaged.isEmpty || problem != nil)
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

    public var rollbackDirectory: URL { stateDirectory.appending(path: "rollback") }

    /// Every run, oldest first. An entry that cannot be read is returned with its problem,
    /// never thrown: one bad entry must not hide the others. Throws only when the state
    /// directory itself cannot be read or trusted. With `skippingSettledRecords`, for callers
    /// that look only for runs to recover, the records of settled runs are not read (see
    /// ``RunInfo/settled``).
    public func runs(skippingSettledRecords: Bool = false) throws -> [RunSnapshot] {
        try runNames().map {
            run(at: rollbackDirectory.appending(path: $0), skippingSettledRecords: skippingSettledRecords)
        }
    }

    /// The run whose id (or directory name) is `id`. Only directories named for it
    /// (`<start>-<id>`, as ``RunJournal/create(stateDirectory:suites:runID:)`` names them) are
    /// read: a host's journal keeps many runs, and reading each (a live one's lock is watched
    /// for 50 ms) would make every lookup as slow as `rollback list`.
    /// `probingLiveness` as for ``run(at:probingLiveness:)``.
    public func run(id: String, probingLiveness: Bool = true) throws -> RunSnapshot? {
        try runNames().filter { $0 == id || $0.hasSuffix("-\(id)") }
            .lazy.map { run(at: rollbackDirectory.appending(path: $0), probingLiveness: probingLiveness) }
            .first { $0.id == id || $0.directory.lastPathComponent == id }
    }

    /// The entries of `rollback/`, sorted, once the state directory is trusted.
    private func runNames() throws -> [String] {
        let root = rollbackDirectory.path
        try DurableFile.refuseSymlink(stateDirectory.path)
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        try DurableFile.refuseSymlink(root)
        try JournalTrust.check(directory: stateDirectory.path)
        try JournalTrust.check(directory: root)
        return try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The run in `directory`, with what could not be read or trusted in it reported.
    ///
    /// With `probingLiveness` false, `isLive` is left false instead of probed: for a process
    /// that holds the run's lock itself (the runner, a recovery, the sweep) or needs only the
    /// records. A probe of a held lock watches it for 50 ms (see ``RunLock/isHeld(_:)``).
    /// With `skippingSettledRecords`, a settled run is returned with its run.json only.
    public func run(
        at directory: URL, probingLiveness: Bool = true, skippingSettledRecords: Bool = false
    )
        -> RunSnapshot
    {
        var snapshot = RunSnapshot(
            directory: directory, info: nil, problem: nil, entries: [], isLive: false, interruptedWrites: [])
        var status = stat()
        if lstat(directory.path, &status) == 0, status.st_mode & S_IFMT != S_IFDIR {
            snapshot.isStray = true
            snapshot.problem = "not a run directory (a stray file in the journal); ignored"
            return snapshot
        }
        if let problem = JournalTrust.problem(at: directory.path) {
            snapshot.problem = problem
            return snapshot
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        } catch {
            snapshot.problem = "cannot list \(directory.path): \(error.localizedDescription)"
            return snapshot
        }
        do {
            let path = directory.appending(path: "run.json").path
            if let problem = JournalTrust.problem(at: path) { throw DamagedRecord(description: problem) }
            snapshot.info = try JSONDecoder.journal.decode(RunInfo.self, from: DurableFile.read(path))
        } catch {
            snapshot.problem = "run.json: \(Self.describe(error))"
        }
        if skippingSettledRecords, snapshot.info?.settled == true {
            snapshot.recordsSkipped = true
            return snapshot
        }
        let recordNames = names.filter(Self.isRecordName)
        var found = recordNames.map { directory.appending(path: $0).path }
        if let copy = snapshot.info.flatMap({ RegistryCopy(of: directory, info: $0) }) {
            do {
                found += try Self.recordNames(in: copy.directory, besides: Set(recordNames)).map {
                    copy.directory.appending(path: $0).path
                }
            } catch {
                snapshot.entries.append(
                    .damaged(
                        path: copy.directory.path,
                        problem: "cannot list the run's registry copy: \(error.localizedDescription)"))
            }
        }
        let paths = found  // a constant: the reading threads below capture it
        // Read and decoded side by side: a runner closing its journal reads back every record.
        let read = Forks.map(paths.count, limit: RecordStore.batchThreads) { index -> (RecordEntry, Bool) in
            let path = paths[index]
            do {
                if let problem = JournalTrust.problem(at: path) { throw DamagedRecord(description: problem) }
                let latest = try UndoRecord.latest(in: DurableFile.read(path))
                return (.record(latest.record, path: path), latest.unfinishedTail)
            } catch {
                return (.damaged(path: path, problem: Self.describe(error)), false)
            }
        }
        snapshot.entries += read.map(\.0)
        snapshot.unfinishedVersions = zip(paths, read).filter(\.1.1).map(\.0)
        snapshot.isLive = probingLiveness && RunLock.isHeld(directory)
        snapshot.interruptedWrites = names.filter { $0.hasPrefix(".tmp-") }.map {
            directory.appending(path: $0).path
        }
        return snapshot
    }

    /// Whether `name`, an entry of a run directory or its registry copy, is a record file.
    private static func isRecordName(_ name: String) -> Bool {
        name.hasSuffix(".json") && name != "run.json" && !name.hasPrefix(".")
    }

    /// The record files of a run's registry copy that its journal, whose record files are
    /// `journalNames`, no longer has. A workspace being deleted (`rm -rf` goes in directory
    /// order) can take a record's file out of the journal before `run.json`: the copy is then
    /// that record's last name. Were it left out, a recovery would find nothing pending, mark
    /// the run settled and remove the copy while the fault is still in place. While both
    /// exist, the copy never holds a record the journal lacks: a record is written into the
    /// journal first, and a file rewritten there keeps its name throughout.
    private static func recordNames(in copy: URL, besides journalNames: Set<String>) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: copy.path)
                .filter { isRecordName($0) && !journalNames.contains($0) }.sorted()
        } catch {
            // The copy is removed once its run settles, maybe while this reads.
            guard FileManager.default.fileExists(atPath: copy.path) else { return [] }
            throw error
        }
    }

    /// Runs that are not live and still have pending or unreadable records.
    public func runsNeedingRecovery() throws -> [RunSnapshot] {
        try runs(skippingSettledRecords: true).filter(\.needsRecovery)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return
                "not valid JSON (\(context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription))"
        case DecodingError.keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case let damaged as DamagedRecord:
            return damaged.description
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return
                "bad field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
