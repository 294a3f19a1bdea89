import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Undo kind `process.restart`: runs the restart command at most once per record, unless the
/// target already runs again, and verifies that the target is back.
///
/// Exactly once: before spawning, the undo claims the record's restart with a file created
/// `O_EXCL` in the run directory (`restarts/<run>-<seq>.claim`). A retry, the guardian or
/// `rollback execute` finds the claim and never spawns a second copy; they wait for the one
/// started. The restarted process carries `EBB_RESTART=<run id>/<sequence>` in its
/// environment, which proves it is this record's restart.
///
/// The restarted service is not a fixture of the run: it replaces a service that ran before
/// the run, so it keeps running after the run ends (a fixture would be stopped).
public enum ProcessRestart: UndoHandler {
    public struct Payload: Codable, Sendable {
        var targets: [RecordedProcess]
        var restart: [String]?
        var selector: ProcessSelector?
        var directory: String
        var timeoutSeconds: Double
        /// `<run id>/<sequence>`: the restart's environment marker and claim name. Absent in
        /// records written before it existed.
        var marker: String?
        /// Clock ticks since boot at preflight: a match that started later is a new process,
        /// one that started earlier (or in the same tick) is a bystander (or a reused pid), not the target back.
        var plannedAt: UInt64?
    }

    public static let kind = "process.restart"
    static let environmentKey = "EBB_RESTART"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard let restart = payload.restart, payload.selector != nil else {
            return .irreversible(
                reason: "no restart command: the killed process stays down; recovery is left to checks")
        }
        // Idempotent: a target that survived the signal, or one already back, needs nothing.
        if isBack(payload) { return .undone }
        let claim = RestartClaim(payload, context)
        // Claimed before (by an earlier attempt or another executor): the restart is under
        // way or done; `verify` waits for it, and never starts a second copy.
        guard try claim.take() else { return .undone }
        let log = context.runDirectory.appending(path: "restart-\(context.runID).log").path
        // A session of its own: the restarted service outlives Ebb and a kill of its group.
        let pid = try ChildProcess.spawn(
            restart, environment: [environmentKey: claim.marker], directory: payload.directory,
            outputPath: log, newSession: true)
        claim.recordSpawned(pid: pid, startTime: ProcessTable.stat(pid)?.startTime)
        if let status = ChildProcess.wait(pid, timeout: .milliseconds(50)) {
            guard status == 0 else {
                throw VerificationFailure(
                    "restart command \(restart.joined(separator: " ")) exited with status \(status)")
            }
        } else {
            // Reaped when it ends, so a long-lived restarted service never lingers as a zombie of Ebb's.
            Thread.detachNewThread { _ = ChildProcess.wait(pid, timeout: nil) }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        guard let selector = payload.selector else { return }
        guard Poll.until(timeout: .seconds(payload.timeoutSeconds), { staysBack(payload) }) else {
            let claim = RestartClaim(payload, context).describe()
            throw VerificationFailure(
                "\(selector.description) is not running \(payload.timeoutSeconds)s after the restart\(claim)")
        }
    }

    /// The target runs again: a recorded target survived, or the selector finds a process that
    /// this record's restart started (it carries the marker) or that started after preflight.
    /// A match older than preflight is a bystander; a pidfile's pid must be the recorded
    /// process, or a newer process of the same name (never a reused pid of something else).
    static func isBack(_ payload: Payload) -> Bool {
        payload.targets.contains(where: \.isRunning) || !restarted(payload).isEmpty
    }

    /// As ``isBack(_:)``, and a restarted process found is still the same process, still a
    /// match, ``settleTime`` later. The restart command's own wrapper (`sh -c "... sleep 60 &"`
    /// for `match: "sleep 60"`) matches and carries the marker too, but only while it starts
    /// the service: seen once, it would verify a restart whose service never came up.
    static func staysBack(_ payload: Payload) -> Bool {
        if payload.targets.contains(where: \.isRunning) { return true }
        let seen = restarted(payload).map { RecordedProcess($0).lockKey }
        guard !seen.isEmpty else { return false }
        Thread.sleep(forTimeInterval: settleTime.seconds)
        return restarted(payload).contains { seen.contains(RecordedProcess($0).lockKey) }
    }

    /// How long a restarted process must keep running to count as the target back.
    static let settleTime = Duration.milliseconds(250)

    /// The processes the selector finds that this record's restart started (they carry its
    /// marker) or that started after preflight.
    private static func restarted(_ payload: Payload) -> [ProcessSnapshot] {
        guard let selector = payload.selector else { return [] }
        let candidates = selector.candidates()
        guard let plannedAt = payload.plannedAt else { return candidates }  // a record from before: as it was
        let marked = payload.marker.map { Set(ProcessTable.carrying(environmentKey, $0).map(\.pid)) } ?? []
        let names = Set(payload.targets.map(\.name))
        return candidates.filter { process in
            if marked.contains(process.pid) { return true }
            guard process.startTime > plannedAt else { return false }
            if case .pidfile = selector.source, !names.isEmpty { return names.contains(process.displayName) }
            return true
        }
    }
}

/// The durable proof that a record's restart command was started: a claim file created
/// `O_EXCL` before spawning (so two executors cannot both spawn), then the spawned pid and
/// start time. Kept under `restarts/` in the run directory (not `*.json`, which are records).
struct RestartClaim {
    let marker: String
    let path: String

    init(_ payload: ProcessRestart.Payload, _ context: UndoContext) {
        marker = payload.marker ?? "\(context.runID)/\(payload.targets.map { String($0.pid) }.joined(separator: "-"))"
        let name = marker.replacingOccurrences(of: "/", with: "-")
        path = context.runDirectory.appending(path: "restarts").appending(path: "\(name).claim").path
    }

    /// Creates the claim durably; false when it already existed.
    func take() throws -> Bool {
        let directory = (path as NSString).deletingLastPathComponent
        try DurableFile.makeDirectory(directory)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 && errno == EEXIST { return false }
        guard fd >= 0 else { throw VerificationFailure(systemError("cannot claim the restart at", path).description) }
        let note = "claimed by pid \(getpid()) at \(Date())\n"
        _ = note.withCString { write(fd, $0, strlen($0)) }
        fsync(fd)
        close(fd)
        try DurableFile.syncDirectory(directory)
        return true
    }

    /// Adds the spawned process to the claim (best effort: the claim alone already prevents a second spawn).
    func recordSpawned(pid: Int32, startTime: UInt64?) {
        let text = "claimed by pid \(getpid())\nspawned pid \(pid) start time \(startTime.map(String.init) ?? "?")\n"
        try? DurableFile.write(Data(text.utf8), to: path)
    }

    /// What the claim says, for a failed verification ("" when there is none).
    func describe() -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        let spawned =
            text.split(separator: "\n").first { $0.hasPrefix("spawned") }.map(String.init) ?? "not yet spawned"
        return "; its restart was started once (\(spawned)) and Ebb restarts a record only once"
    }
}
