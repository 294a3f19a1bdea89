import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The journal of one run being written: `run.json` plus one durable file per undo record.
/// Every write is durable before the call returns (see ``DurableFile``).
public final class RunJournal: Sendable {
    public let directory: URL
    public let runID: String
    private let state: Mutex<State>

    /// What changes while the run goes on: faults reserve sequences from several threads.
    private struct State {
        var info: RunInfo
        var nextSequence = 1
        /// The run's lock, held until the run is closed.
        var lock: RunLock?
        /// Tells the run's guardian, if it still waits to start, that it is not needed.
        var releaseGuardian: (@Sendable () -> Void)?
    }

    /// The run's `run.json` as this process last wrote it, or last tried to: a failed
    /// ``close(status:)`` leaves it marked closed while the file still says open.
    public var info: RunInfo { state.withLock { $0.info } }

    /// Opens a new run under `<stateDirectory>/rollback/` and holds its lock until ``close(status:)``.
    /// With a `registry`, every record is also copied there before its fault acts. `runID` is
    /// chosen by the caller only where another journal must name this run before it exists (a
    /// remote host's run, named after the local run and the host); otherwise it is random.
    /// With a `guardian`, the run's guardian is started before `run.json` is first written, so
    /// that its pid is in it without a second write; it throws ``GuardianLauncher/Failure`` when
    /// the guardian cannot start, and then leaves no run behind.
    public static func create(
        stateDirectory: URL, suites: [String], registry: HostRegistry? = nil,
        runID: String? = nil, guardian: GuardianLauncher? = nil
    ) throws -> RunJournal {
        let id = runID ?? Self.makeRunID()
        let started = Date()
        let nanoseconds = UInt64(started.timeIntervalSince1970 * 1e9)
        let root = stateDirectory.appending(path: "rollback")
        var directories = DurableFile.NewDirectories()
        try directories.make(stateDirectory.path)
        try directories.make(root.path)
        try JournalTrust.check(directory: stateDirectory.path)
        try JournalTrust.check(directory: root.path)
        // Built under a dot name and renamed into place once run.json is durable, so that no
        // reader ever sees a run directory without its run.json.
        let name = "\(nanoseconds)-\(id)"
        let building = root.appending(path: ".new-\(name)")
        try directories.make(building.path)
        try directories.commit()
        guard let lock = try RunLock.acquire(building) else {
            throw DurableFile.Failure(message: "cannot lock the new run directory \(building.path)")
        }
        let directory = root.appending(path: name)
        var info: RunInfo
        var startedGuardian: GuardianLauncher.Started?
        do {
            info = try describe(
                directory, building: building, id: id, suites: suites, started: started, registry: registry)
            startedGuardian = try guardian?.launch(runDirectory: directory, building: building, runner: info)
            info.guardianPID = startedGuardian?.pid
            try info.write(into: building)
            try startedGuardian?.watch()
            guard rename(building.path, directory.path) == 0 else {
                throw DurableFile.Failure(message: systemError("cannot rename \(building.path) into place").description)
            }
        } catch {
            // Nothing was armed yet: no half-built run is left for readers to report.
            startedGuardian?.release()
            lock.release()
            try? FileManager.default.removeItem(at: building)
            if let registry { try? FileManager.default.removeItem(at: registry.copy(of: directory)) }
            throw error
        }
        try DurableFile.syncDirectory(root.path)
        return RunJournal(directory: directory, info: info, lock: lock, releaseGuardian: startedGuardian?.release)
    }

    /// The first `run.json` of the run that will be at `directory`, now being built in `building`:
    /// its runner and its registry copy (made here).
    private static func describe(
        _ directory: URL, building: URL, id: String, suites: [String], started: Date, registry: HostRegistry?
    ) throws -> RunInfo {
        let host = HostIdentity.current
        var info = RunInfo(
            id: id, pid: getpid(), pidStartTime: ProcessTable.stat(getpid())?.startTime,
            host: host.hostname, suites: suites, startedAt: started, status: .open)
        info.machineID = host.machineID
        info.journal = directory.path
        if let registry {
            let copy = registry.copy(of: directory)
            do {
                try registry.prepare(copy: copy, of: building)
            } catch {
                throw DurableFile.Failure(
                    message: "cannot use the host registry \(registry.directory.path) (\(error)); "
                        + "set EBB_REGISTRY_DIR to another folder, or to 'off' to run without one (then only the journal can revert a fault)"
                )
            }
            info.registry = copy.path
        }
        return info
    }

    private init(directory: URL, info: RunInfo, lock: RunLock, releaseGuardian: (@Sendable () -> Void)?) {
        self.directory = directory
        runID = info.id
        state = Mutex(State(info: info, lock: lock, releaseGuardian: releaseGuardian))
    }

    /// Reserves the next record sequence number (also used to name backups).
    public func reserveSequence() -> Int {
        state.withLock { state in
            defer { state.nextSequence += 1 }
            return state.nextSequence
        }
    }

    /// Marks the run closed (and settled, when it is: ``RunInfo/settled``) and releases its lock;
    /// a closed run is never recovered. Returns the journal as closed (records as read for it).
    /// `outcomesDurable` false (an outcome could not be made durable) keeps it unsettled: what a
    /// reader sees now may not be what a crash leaves, and a settled run's records are not read.
    @discardableResult
    public func close(status: RunStatus = .closed, outcomesDurable: Bool = true) throws -> RunSnapshot {
        var run = JournalReader(holding: directory).run(at: directory, probingLiveness: false)
        let (closed, releaseGuardian) = try state.withLock { state in
            state.info.status = status
            state.info.closedAt = Date()
            state.info.settled = run.isSettled && outcomesDurable
            run.info = state.info
            // A settled run's registry copy goes before run.json is written, which would otherwise
            // write the copy's run.json durably only to remove it. Nothing of the run is pending,
            // so a crash between the two leaves nothing to recover in either order.
            RegistryCopy(of: directory, info: state.info)?.removeIfSettled(run)
            try state.info.write(into: directory)
            state.lock?.release()
            state.lock = nil
            defer { state.releaseGuardian = nil }
            return (state.info, state.releaseGuardian)
        }
        // Unsettled, the guardian must still look (it retries what the runner could not revert).
        if closed.settled == true { releaseGuardian?() }
        return run
    }

    private static func makeRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(format: "%08x", UInt32.random(in: .min ... .max, using: &generator))
    }
}
