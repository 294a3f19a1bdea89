import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `process.kill`: sends a signal to the targets. The undo is the optional `restart` command,
/// verified by finding the target running again; without one the record is `irreversible`.
public enum ProcessKill: FaultPlugin {
    public static let id = "process.kill"
    public static var undoHandlers: [any UndoHandler.Type] { [ProcessRestart.self] }
    public static let summary =
        "send a signal (default KILL) to the targets; undo: run `restart` and verify the target runs again, else irreversible"
    public static let parameters =
        ProcessSelector.parameters + [
            ParameterSpec("signal", .string, "signal name or number (default KILL)"),
            ParameterSpec(
                "restart", .argv, "command that brings the target back (needs pidfile or match, to find it again)"),
            ParameterSpec(
                "restart_timeout", .duration, "how long the restarted target may take to appear (default 30s)"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let selector = try ProcessSelector(parameters, suite: suite)
        let signalName = try parameters.string("signal") ?? "KILL"
        guard let signal = SignalName.number(signalName) else {
            throw parameters.error(
                "signal", "unknown signal '\(signalName)' (use e.g. KILL, TERM, INT, HUP, USR1 or a number)")
        }
        guard ![SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT].contains(signal) else {
            throw parameters.error(
                "signal", "\(signalName) does not end a process; use process.pause to freeze one (its undo resumes it)")
        }
        let restart = try parameters.argv("restart")
        if restart != nil {
            switch selector.source {
            case .pidfile, .match: break
            default:
                throw parameters.error(
                    "restart",
                    "restart needs the target given by pidfile or match, so the restarted process can be found and verified"
                )
            }
        }
        let timeout = try parameters.duration("restart_timeout") ?? .seconds(30)
        return KillFault(
            selector: selector, signal: signal, restart: restart, restartTimeout: timeout,
            directory: suite.directory.path)
    }

    struct KillFault: Fault {
        let selector: ProcessSelector
        let signal: Int32
        let restart: [String]?
        let restartTimeout: Duration
        let directory: String

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let targets: [RecordedProcess]
            let label: String
            if let name = selector.fixturePendingInDryRun(context) {
                targets = []
                label = "fixture \(name) (its pid is known once it runs)"
            } else {
                let (found, excluded) = try selector.resolveCountingProtected(fixturePIDs: context.fixturePIDs)
                targets = found.map(RecordedProcess.init)
                label = targets.map(\.label).joined(separator: ", ") + ProcessSelector.exclusionNote(excluded)
            }
            let payload = ProcessRestart.Payload(
                targets: targets, restart: restart, selector: restart == nil ? nil : selector,
                directory: directory, timeoutSeconds: restartTimeout.seconds,
                marker: "\(context.runID)/\(context.sequence)", plannedAt: ProcessTable.ticksSinceBoot)
            let summary =
                restart.map { "run \($0.joined(separator: " ")) and wait until \(selector.description) runs again" }
                ?? "none: irreversible (no restart command); recovery is left to checks"
            return try FaultPlan(
                target: label, undo: ProcessRestart.self, payload: payload, undoSummary: summary,
                lockKeys: targets.map(\.lockKey))
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            for target in try plan.undoData.decode(ProcessRestart.Payload.self).targets {
                guard target.isRunning else { continue }
                guard kill(target.pid, signal) == 0 || errno == ESRCH else {
                    throw FaultError(description: systemError("kill -\(signal)", target.label).description)
                }
            }
        }
    }
}

/// Signal names as `kill -l` prints them, with or without the SIG prefix.
enum SignalName {
    static let numbers: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "TERM": SIGTERM,
        "USR1": SIGUSR1, "USR2": SIGUSR2, "STOP": SIGSTOP, "CONT": SIGCONT, "ABRT": SIGABRT,
        "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU,
    ]

    static func number(_ name: String) -> Int32? {
        if let value = Int32(name), (1...64).contains(value) { return value }
        let upper = name.uppercased()
        return numbers[upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper]
    }
}
