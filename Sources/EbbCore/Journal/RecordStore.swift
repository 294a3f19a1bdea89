import Foundation

/// The undo records of one run directory, changed by one writer at a time.
///
/// Several processes may change a run's records: the runner (arming, injecting, renewing a
/// deadline, rolling back), its guardian (a deadline passed) and `ebb rollback execute`. Each
/// record has a lock, byte `<seq>` of the run's `records.lock`; a writer holds it, reads the record afresh and
/// writes only a change its state allows (``RecordState/canChange(to:)``). So a late writer can
/// never make a live fault read `reverted`, nor a reverted one read `injected`.
public struct RecordStore: Sendable {
    public let runDirectory: URL
    /// The run's copy in the host registry, written with the journal on every change.
    private let registryCopy: RegistryCopy?

    /// The store of the run in `runDirectory`, its registry copy as its `run.json` names it.
    public init(runDirectory: URL) {
        self.runDirectory = runDirectory
        registryCopy = RegistryCopy(of: runDirectory)
    }

    /// The store of the run `journal` writes, its registry copy as the journal knows it: not
    /// read back from `run.json`, where a failed read (a descriptor limit, an I/O error) would
    /// leave the run's records without their copy and say nothing.
    public init(journal: RunJournal) {
        runDirectory = journal.directory
        registryCopy = RegistryCopy(of: journal.directory, info: journal.info)
    }

    /// A state change the record's current state does not allow.
    public struct Conflict: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock of record `sequence`. Without `deadline`, one try: nil when another
    /// process holds it. With one, waits (re-trying every 10 ms) until then.
    public func lock(_ sequence: Int, waitingUntil deadline: ContinuousClock.Instant? = nil) throws -> RunLock? {
        let path = runDirectory.appending(path: Self.locksFile).path
        while true {
            if let lock = try RunLock.acquire(file: path, byte: sequence) { return lock }
            guard let deadline, ContinuousClock.now < deadline else { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// The file whose byte `<seq>` is record `<seq>`'s lock. Builds before 2026-12-07 took a file
    /// per record (`locks/<seq>.lock`); a runner and its guardian are always one build.
    public static let locksFile = "records.lock"

    /// The record as it is on disk now (its latest complete version); nil when it was never written.
    public func current(_ record: UndoRecord) throws -> UndoRecord? {
        let path = runDirectory.appending(path: record.fileName).path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try UndoRecord.latest(in: DurableFile.read(path)).record
    }

    /// Writes a new record; refuses when one with its name exists. Hold its lock.
    public func create(_ record: UndoRecord) throws {
        try create([record])
    }

    /// Writes new records, in the journal and the registry copy, all durable on return with one
    /// commit for the batch (see ``DurableFile/write(_:)``); refuses when any of them exists
    /// already, writing none. Hold their locks.
    public func create(_ records: [UndoRecord]) throws {
        for record in records
        where FileManager.default.fileExists(atPath: runDirectory.appending(path: record.fileName).path) {
            throw Conflict(description: "record \(record.fileName) exists already in \(runDirectory.path)")
        }
        try registryCopy?.copyBackups(from: runDirectory)
        try write(records, copying: registryCopy != nil)
    }

    /// Records a new version of records that this process wrote and whose locks it has held
    /// ever since, all durable on return with one commit for the batch. Nobody else can have
    /// changed them, so they are not read back first (``update(_:durably:)`` is for every other change).
    /// The versions are encoded and appended up to ``batchThreads`` at once, each to a file of
    /// its own (the kernel serialises nothing): every fault of a scenario waits for this batch.
    public func replace(heldSinceWritten records: [UndoRecord]) throws {
        let appended = Forks.map(records.count, limit: Self.batchThreads) { index in
            Result { try append(records[index]) }
        }
        try DurableFile.syncFiles(appended.flatMap { try $0.get() })
    }

    /// Threads that encode, write or read back a batch of records: work for the CPU, not for
    /// waiting, so about as many as a CI machine has cores.
    static let batchThreads = 4

    /// Writes `records` as new files into the run directory and, if `copying`, into the registry
    /// copy as second names of the same files (see ``DurableFile/mirror(_:durably:)``), all
    /// durable on return.
    private func write(_ records: [UndoRecord], copying: Bool) throws {
        let paths = records.map { runDirectory.appending(path: $0.fileName).path }
        let encoded = Forks.map(records.count, limit: Self.batchThreads) { index in
            Result { try records[index].encoded() }
        }
        let files = try zip(encoded, paths).map { (try $0.get(), $1) }
        guard copying, let registryCopy else {
            try DurableFile.write(files)
            return
        }
        try DurableFile.write(files, syncingDirectories: false)
        try DurableFile.mirror(
            zip(records, paths).map { ($1, registryCopy.directory.appending(path: $0.fileName).path) },
            durably: false)
        // One directory commit for the journal and its copy: nothing acts on a record before
        // this returns, so which of the two names became durable first does not matter.
        try DurableFile.syncDirectories([runDirectory.path, registryCopy.directory.path])
    }

    /// Records a new version of `record`, if its current state allows the change. Hold its lock.
    /// A record on disk that cannot be read gets the version all the same: the writer's copy is
    /// the better truth, and being the last, it is what readers take.
    /// With `durably` false the version is visible at once but fsynced only by a later
    /// ``DurableFile/syncFiles(_:)`` of the returned paths (a rollback commits its outcomes together).
    @discardableResult
    public func update(_ record: UndoRecord, durably: Bool = true) throws -> [String] {
        try update(record, over: try? current(record), durably: durably)
    }

    /// Records a new version of `record` whose lock this process has held since it read
    /// `current` from the journal: nobody can have changed the record since, so `current` is
    /// checked instead of a fresh read (a rollback reads each record once, not twice).
    @discardableResult
    public func update(
        _ record: UndoRecord, readUnderHeldLock current: UndoRecord, durably: Bool = true
    ) throws -> [String] {
        try update(record, over: current, durably: durably)
    }

    private func update(_ record: UndoRecord, over current: UndoRecord?, durably: Bool) throws -> [String] {
        if let current, !current.state.canChange(to: record.state) {
            throw Conflict(
                description: "record \(record.fileName) is \(current.state.rawValue)"
                    + (current.revertedBy.map { " (by \($0))" } ?? "") + "; it cannot become \(record.state.rawValue)")
        }
        let written = try append(record)
        if durably { try DurableFile.syncFiles(written) }
        return written
    }

    /// Bytes of versions a record file collects before it is rewritten with its latest alone: a
    /// fixture's deadline is renewed every few seconds for as long as the run lasts.
    public static let versionsLimit = 64 * 1024

    /// Appends `record` as the latest version of its file, not yet fsynced, and to the registry
    /// copy where that is a file of its own; returns the paths written. A version is appended,
    /// not written to a new file renamed over the old one: no inode is made or freed and no
    /// directory changes (a big rollback spent most of its time on both), and the registry's
    /// second name of the file sees the version without being touched. A record never written
    /// before (no file yet), or whose file reached ``versionsLimit``, is written as a new file.
    private func append(_ record: UndoRecord) throws -> [String] {
        let path = runDirectory.appending(path: record.fileName).path
        var info = stat()
        let exists = lstat(path, &info) == 0
        guard exists, info.st_size < Self.versionsLimit else {
            if !exists, let copy = copyOfRecordWithoutJournal(record) {
                try DurableFile.append(try record.appendedVersion(), to: copy)
                return [copy]
            }
            // No file yet, or one grown long: (re)written whole, durably, as a new record is.
            let copying = registryCopy.map { FileManager.default.fileExists(atPath: $0.directory.path) } ?? false
            if copying, record.state.isPending { try registryCopy?.copyBackups(from: runDirectory) }
            try write([record], copying: copying)
            return []
        }
        let version = try record.appendedVersion()
        try DurableFile.append(version, to: path)
        var written = [path]
        // A copy removed once its run settled is not brought back by a late write.
        if let registryCopy, FileManager.default.fileExists(atPath: registryCopy.directory.path),
            let copy = try registryCopy.add(version, of: record, writtenAt: path, from: runDirectory)
        {
            written.append(copy)
        }
        return written
    }

    /// The copy's file of `record` when the journal's folder is gone (its workspace was deleted)
    /// and that file is not: a version then goes there, which readers take once the journal is
    /// gone. Else a recovery at work when the workspace went could not record its outcome, and
    /// the sweep would run the undo again. A journal that still exists gets its file back.
    private func copyOfRecordWithoutJournal(_ record: UndoRecord) -> String? {
        var info = stat()
        guard access(runDirectory.path, F_OK) != 0, errno == ENOENT,
            let copy = registryCopy?.directory.appending(path: record.fileName).path,
            lstat(copy, &info) == 0, info.st_size < Self.versionsLimit
        else { return nil }
        return copy
    }
}
