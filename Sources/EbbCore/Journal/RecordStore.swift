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
        try DurableFile.write(files(of: records, copying: registryCopy != nil))
    }

    /// Replaces records that this process wrote and whose locks it has held ever since, all
    /// durable on return with one commit for the batch. Nobody else can have changed them, so
    /// they are not read back first (``update(_:durably:)`` is for every other change).
    public func replace(heldSinceWritten records: [UndoRecord]) throws {
        // A copy removed once its run settled is not brought back by a late write.
        let copying = registryCopy.map { FileManager.default.fileExists(atPath: $0.directory.path) } ?? false
        try DurableFile.write(files(of: records, copying: copying))
    }

    /// Each record's content and paths: in the run directory, and in the registry copy if `copying`.
    private func files(of records: [UndoRecord], copying: Bool) throws -> [(data: Data, path: String)] {
        try records.flatMap { record -> [(data: Data, path: String)] in
            let data = try record.encoded()
            let local = (data, runDirectory.appendingPathComponent(record.fileName).path)
            guard copying, let registryCopy else { return [local] }
            return [local, (data, registryCopy.directory.appendingPathComponent(record.fileName).path)]
        }
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
        var written = [try record.write(into: runDirectory, durably: durably)]
        // A copy removed once its run settled is not brought back by a late write.
        if let registryCopy, FileManager.default.fileExists(atPath: registryCopy.directory.path) {
            written.append(try registryCopy.write(record, from: runDirectory, durably: durably))
        }
        return written
    }
}
