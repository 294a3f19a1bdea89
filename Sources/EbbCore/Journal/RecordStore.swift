import Foundation

/// The undo records of one run directory, changed by one writer at a time.
///
/// Several processes may change a run's records: the runner (arming, injecting, renewing a
/// deadline, rolling back), its guardian (a deadline passed) and `ebb rollback execute`. Each
/// record has a lock file, `locks/<seq>.lock`; a writer holds it, reads the record afresh and
/// writes only a change its state allows (``RecordState/canChange(to:)``). So a late writer can
/// never make a live fault read `reverted`, nor a reverted one read `injected`.
public struct RecordStore: Sendable {
    public let runDirectory: URL
    /// The run's copy in the host registry, written after the journal on every change.
    private let registryCopy: RegistryCopy?

    public init(runDirectory: URL) {
        self.runDirectory = runDirectory
        registryCopy = RegistryCopy(of: runDirectory)
    }

    /// A state change the record's current state does not allow.
    public struct Conflict: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock of record `sequence`. Without `deadline`, one try: nil when another
    /// process holds it. With one, waits (re-trying every 10 ms) until then.
    public func lock(_ sequence: Int, waitingUntil deadline: ContinuousClock.Instant? = nil) throws -> RunLock? {
        let folder = runDirectory.appendingPathComponent("locks")
        try DurableFile.makeDirectory(folder.path)
        let path = folder.appendingPathComponent("\(sequence).lock").path
        while true {
            if let lock = try RunLock.acquire(file: path) { return lock }
            guard let deadline, ContinuousClock.now < deadline else { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// The record as it is on disk now; nil when it was never written.
    public func current(_ record: UndoRecord) throws -> UndoRecord? {
        let path = runDirectory.appendingPathComponent(record.fileName).path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try UndoRecord.decodeChecked(DurableFile.read(path))
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
        where FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent(record.fileName).path) {
            throw Conflict(description: "record \(record.fileName) exists already in \(runDirectory.path)")
        }
        try registryCopy?.copyBackups(from: runDirectory)
        try write(records, copying: registryCopy != nil)
    }

    /// Replaces records that this process wrote and whose locks it has held ever since, all
    /// durable on return with one commit for the batch. Nobody else can have changed them, so
    /// they are not read back first (``update(_:durably:)`` is for every other change).
    public func replace(heldSinceWritten records: [UndoRecord]) throws {
        // A copy removed once its run settled is not brought back by a late write.
        let copying = registryCopy.map { FileManager.default.fileExists(atPath: $0.directory.path) } ?? false
        try write(records, copying: copying)
    }

    /// Writes `records` durably into the run directory, then, if `copying`, into the registry
    /// copy as second names of the same files (see ``DurableFile/mirror(_:durably:)``).
    private func write(_ records: [UndoRecord], copying: Bool) throws {
        let paths = records.map { runDirectory.appendingPathComponent($0.fileName).path }
        try DurableFile.write(zip(records, paths).map { (try $0.encoded(), $1) })
        guard copying, let registryCopy else { return }
        try DurableFile.mirror(
            zip(records, paths).map { ($1, registryCopy.directory.appendingPathComponent($0.fileName).path) },
            durably: true)
    }

    /// Replaces a record with `record`, if its current state allows the change. Hold its lock.
    /// A record on disk that cannot be read is replaced: the writer's copy is the better truth.
    /// With `durably` false the change is visible at once but fsynced only by a later
    /// ``DurableFile/sync(_:)`` of the returned paths (a rollback commits its outcomes together).
    @discardableResult
    public func update(_ record: UndoRecord, durably: Bool = true) throws -> [String] {
        if let current = try? current(record), !current.state.canChange(to: record.state) {
            throw Conflict(
                description: "record \(record.fileName) is \(current.state.rawValue)"
                    + (current.revertedBy.map { " (by \($0))" } ?? "") + "; it cannot become \(record.state.rawValue)")
        }
        let path = try record.write(into: runDirectory, durably: durably)
        var written = [path]
        // A copy removed once its run settled is not brought back by a late write.
        if let registryCopy, FileManager.default.fileExists(atPath: registryCopy.directory.path) {
            written.append(try registryCopy.write(record, writtenAt: path, from: runDirectory, durably: durably))
        }
        return written
    }
}
