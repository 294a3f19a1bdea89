import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A second copy of every open run's journal, kept outside any CI workspace, so that a fault
/// can be taken back after the workspace, the runner and its guardian are all gone (`ebb
/// rollback sweep`). On the journal's file system a record's copy is a second name (a hard
/// link) of the journal's file, which is only ever replaced, never written in place. Each run's copy, `<registry>/<run directory name>/`, holds its `run.json`,
/// its records and the backups they need, written before the fault acts like the journal
/// itself; it is removed once nothing of the run is pending.
///
/// Where: `$EBB_REGISTRY_DIR` (`off` for none), else `/var/lib/ebb/registry` for root, else
/// `$XDG_STATE_HOME/ebb/registry` (default `~/.local/state/ebb/registry`).
public struct HostRegistry: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// The registry of this user on this machine, or nil when `EBB_REGISTRY_DIR=off`.
    public static var standard: HostRegistry? {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["EBB_REGISTRY_DIR"], !configured.isEmpty {
            return configured == "off"
                ? nil : HostRegistry(directory: URL(fileURLWithPath: configured).standardizedFileURL)
        }
        if geteuid() == 0 { return HostRegistry(directory: URL(fileURLWithPath: "/var/lib/ebb/registry")) }
        let state =
            environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/state")
        return HostRegistry(directory: URL(fileURLWithPath: state).appending(path: "ebb/registry"))
    }

    /// The copy of the run in `runDirectory`.
    public func copy(of runDirectory: URL) -> URL {
        directory.appending(path: runDirectory.lastPathComponent)
    }

    /// Creates the registry (0700, trusted like the journal) and the copy of the run being built
    /// in `runDirectory`, with the run's locks (see ``shareLocks(of:with:)``).
    func prepare(copy: URL, of runDirectory: URL) throws {
        try DurableFile.makeDirectory(directory.path)
        try JournalTrust.check(directory: directory.path)
        try DurableFile.makeDirectory(copy.path)
        try Self.shareLocks(of: runDirectory, with: copy)
    }

    /// Gives the copy the run's own `lock` and `records.lock`, as second names of the same files
    /// (hard links), so that a lock taken through either directory is one lock: a guardian or
    /// `rollback execute` still recovering through the journal when the workspace is deleted
    /// must keep a sweep, which then goes through the copy, off the same records. Where no link
    /// can be made (another file system), the copy's locks are files of their own, made when
    /// first taken, and only the journal's existence keeps the two apart (see ``HostSweep``).
    private static func shareLocks(of runDirectory: URL, with copy: URL) throws {
        for name in [RunLock.fileName, RecordStore.locksFile] {
            let source = runDirectory.appending(path: name).path
            close(try RunLock.openFile(source))
            let target = copy.appending(path: name).path
            guard link(source, target) != 0 else { continue }
            guard DurableFile.noLinkPossible(errno) else {
                throw DurableFile.Failure(message: systemError("cannot link", target).description)
            }
        }
    }

    /// Every run copy in the registry, oldest first.
    public func runs() throws -> [URL] {
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        try DurableFile.refuseSymlink(directory.path)
        try JournalTrust.check(directory: directory.path)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }
            .sorted()
            .map { directory.appending(path: $0) }
    }
}

/// Keeps a run's registry copy in step with its journal.
struct RegistryCopy: Sendable {
    /// The copy's directory; never the run directory itself.
    let directory: URL

    /// The copy named in the `run.json` of `runDirectory`, if the run has one.
    init?(of runDirectory: URL) {
        guard let data = try? DurableFile.read(runDirectory.appending(path: "run.json").path),
            let info = try? JSONDecoder.journal.decode(RunInfo.self, from: data)
        else { return nil }
        self.init(of: runDirectory, info: info)
    }

    /// The copy named in `info`, the `run.json` of `runDirectory`, if the run has one.
    init?(of runDirectory: URL, info: RunInfo) {
        guard let path = info.registry else { return nil }
        let copy = URL(fileURLWithPath: path)
        guard copy.standardizedFileURL.path != runDirectory.standardizedFileURL.path else { return nil }
        directory = copy
    }

    init(directory: URL) { self.directory = directory }

    /// Adds `version` of `record`, just appended to the journal's file at `journalPath`, to the
    /// copy, and, while the record is pending, any backup of the run not copied yet (durably).
    /// Returns the copy's path when it was written (to be fsynced with the journal's), nil when
    /// the copy is the journal's file under a second name and so has the version already.
    func add(
        _ version: Data, of record: UndoRecord, writtenAt journalPath: String, from runDirectory: URL
    ) throws
        -> String?
    {
        // Backups and fills serve undos still to run; an outcome (reverted, ...) needs none, and
        // listing both folders again for each outcome showed up in the profile of a big rollback.
        if record.state.isPending { try copyBackups(from: runDirectory) }
        let path = directory.appending(path: record.fileName).path
        if DurableFile.isSameFile(journalPath, path) { return nil }
        if FileManager.default.fileExists(atPath: path) {
            try DurableFile.append(version, to: path)
        } else {
            try DurableFile.mirror([(journalPath, path)], durably: true)
        }
        return path
    }

    /// The run-directory folders undos read besides their record: file backups (made before the
    /// record is armed) and fill-file identities (made at injection). Each file is written once.
    static let undoFolders = ["backups", "fills"]

    /// Copying them with the record keeps the rule "everything the undo needs is durable before
    /// the fault acts" for the copy too.
    func copyBackups(from runDirectory: URL) throws {
        for folder in Self.undoFolders {
            let source = runDirectory.appending(path: folder)
            // Most runs have neither folder: a look costs a stat, a failed listing an error built.
            guard access(source.path, F_OK) == 0,
                let names = try? FileManager.default.contentsOfDirectory(atPath: source.path), !names.isEmpty
            else { continue }
            let target = directory.appending(path: folder)
            try DurableFile.makeDirectory(target.path)
            for name in names
            where !name.hasPrefix(".")
                && !FileManager.default.fileExists(atPath: target.appending(path: name).path)
            {
                try DurableFile.write(
                    DurableFile.read(source.appending(path: name).path),
                    to: target.appending(path: name).path)
            }
        }
    }

    /// Removes the copy once nothing of its run is pending any more.
    func removeIfSettled(_ run: RunSnapshot) {
        guard run.damaged.isEmpty, !run.records.contains(where: \.state.isPending) else { return }
        try? FileManager.default.removeItem(at: directory)
        try? DurableFile.syncDirectory(directory.deletingLastPathComponent().path)
    }
}
