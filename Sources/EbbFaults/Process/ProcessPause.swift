import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `process.pause`: freezes processes with SIGSTOP; the undo sends SIGCONT.
public enum ProcessPause: FaultPlugin {
    public static let id = "process.pause"
    public static var undoHandlers: [any UndoHandler.Type] { [ProcessResume.self] }
    public static let summary = "SIGSTOP the target processes for the hold; undo: SIGCONT, verified not stopped"
    public static let parameters = ProcessSelector.parameters

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        PauseFault(selector: try ProcessSelector(parameters, suite: suite))
    }

    struct PauseFault: Fault {
        let selector: ProcessSelector

        func plan(_ context: FaultContext) throws -> FaultPlan {
            if let name = selector.fixturePendingInDryRun(context) {
                return try FaultPlan(
                    target: "fixture \(name) (its pid is known once it runs)", undo: ProcessResume.self,
                    payload: ProcessResume.Payload(targets: []), undoSummary: "SIGCONT fixture \(name)")
            }
            let (targets, excluded) = try selector.resolveCountingProtected(fixturePIDs: context.fixturePIDs)
            if let stopped = targets.first(where: \.isStopped) {
                throw FaultError(
                    description:
                        "pid \(stopped.pid) is already stopped by someone else; Ebb will not take over a pause it did not make"
                )
            }
            let recorded = targets.map(RecordedProcess.init)
            let labels = recorded.map(\.label).joined(separator: ", ")
            return try FaultPlan(
                target: labels + ProcessSelector.exclusionNote(excluded), undo: ProcessResume.self,
                payload: ProcessResume.Payload(targets: recorded),
                undoSummary: "SIGCONT \(labels)", lockKeys: recorded.map(\.lockKey))
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let targets = try plan.undoData.decode(ProcessResume.Payload.self).targets
            for target in targets {
                // Re-check identity right before signalling: the pid may have been reused since planning.
                guard target.isRunning else {
                    throw FaultError(description: "\(target.label) exited before it could be paused")
                }
                guard kill(target.pid, SIGSTOP) == 0 else {
                    throw FaultError(description: systemError("SIGSTOP", target.label).description)
                }
            }
            // A target stops when it next runs, which on a busy machine is a while after kill()
            // returns: the hold starts once every target is seen stopped (or gone), so a live
            // pause means paused.
            let stopped = Poll.until(timeout: .seconds(1), every: .milliseconds(5)) {
                targets.allSatisfy { $0.isStopped ?? true }
            }
            guard stopped else {
                let labels = targets.map(\.label).joined(separator: ", ")
                throw FaultError(description: "\(labels) not stopped 1s after SIGSTOP")
            }
        }
    }
}

/// Undo kind `process.resume`: SIGCONT each recorded process that is still the same process.
public enum ProcessResume: UndoHandler {
    public struct Payload: Codable, Sendable {
        var targets: [RecordedProcess]
    }

    public static let kind = "process.resume"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        for target in payload.targets where target.isRunning {
            guard kill(target.pid, SIGCONT) == 0 || errno == ESRCH else {
                throw VerificationFailure(systemError("SIGCONT", target.label).description)
            }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        for target in payload.targets {
            // SIGCONT takes effect at once, but the state in /proc may lag a scheduling tick.
            let resumed = Poll.until(timeout: .seconds(1)) { target.isStopped != true }
            if !resumed { throw VerificationFailure("\(target.label) is still stopped") }
        }
    }
}
