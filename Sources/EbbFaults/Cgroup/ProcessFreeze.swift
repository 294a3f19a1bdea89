import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `process.freeze`: moves the targets into a freezer cgroup of the run's own and freezes it.
/// Unlike SIGSTOP, a frozen process cannot tell (no SIGCHLD to its parent, no stopped state).
public enum ProcessFreeze: FaultPlugin {
    public static let id = "process.freeze"
    public static var undoHandlers: [any UndoHandler.Type] { [ProcessThaw.self] }
    public static let summary =
        "freeze the target processes in a cgroup of the run's own (v2 cgroup.freeze or v1 freezer; root); undo: thaw, move them back, remove the cgroup, verified"
    public static let parameters = ProcessSelector.parameters

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        FreezeFault(selector: try ProcessSelector(parameters, suite: suite))
    }

    struct FreezeFault: Fault {
        let selector: ProcessSelector

        func plan(_ context: FaultContext) throws -> FaultPlan {
            guard let freezer = CgroupHierarchy.freezer() else {
                throw FaultError(
                    description: "no cgroup freezer is mounted (neither cgroup v2 nor the v1 freezer controller)")
            }
            let group = "/ebb-\(context.runID)-\(context.sequence)"
            if let name = selector.fixturePendingInDryRun(context) {
                return try FaultPlan(
                    target: "fixture \(name) (its pid is known once it runs)", undo: ProcessThaw.self,
                    payload: ProcessThaw.Payload(freezer: freezer, group: group, targets: []),
                    undoSummary: "thaw \(freezer.path(group)), move fixture \(name) back")
            }
            let targets = try freezer.targets(selector.resolve(fixturePIDs: context.fixturePIDs))
            let labels = targets.map(\.process.label).joined(separator: ", ")
            return try FaultPlan(
                target: labels, undo: ProcessThaw.self,
                payload: ProcessThaw.Payload(freezer: freezer, group: group, targets: targets),
                undoSummary:
                    "thaw \(freezer.path(group)) (cgroup \(freezer.version.rawValue)), move \(labels) back, remove it",
                lockKeys: targets.map(\.process.lockKey))
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ProcessThaw.Payload.self)
            let freezer = payload.freezer
            try freezer.create(payload.group)
            CgroupMark.mark(plan, group: payload.group, in: freezer, expires: context.deadline, logger: context.logger)
            for target in payload.targets {
                guard target.process.isRunning else {
                    throw FaultError(description: "\(target.process.label) exited before it could be frozen")
                }
                try freezer.move(target.process.pid, to: payload.group)
            }
            try freezer.setFrozen(true, payload.group)
            guard Poll.until(timeout: .seconds(2), { freezer.isFrozen(payload.group) }) else {
                throw FaultError(description: "\(freezer.path(payload.group)) did not report frozen within 2s")
            }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ProcessThaw.Payload.self)
            CgroupMark.mark(
                plan, group: payload.group, in: payload.freezer, expires: context.deadline, logger: context.logger)
        }
    }
}

/// Undo kind `process.thaw`: thaws the run's freezer cgroup, moves every process in it back to
/// where the targets came from, and removes the cgroup.
public enum ProcessThaw: UndoHandler {
    public struct Payload: Codable, Sendable {
        var freezer: CgroupHierarchy
        /// The run's own cgroup, `/ebb-<run id>-<seq>`.
        var group: String
        var targets: [CgroupTarget]
    }

    public static let kind = "process.thaw"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let freezer = payload.freezer
        guard freezer.exists(payload.group) else { return .undone }  // never created, or already removed
        try freezer.setFrozen(false, payload.group)
        try freezer.release(payload.group, to: payload.targets)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try payload.freezer.verifyReleased(payload.group, payload.targets)
    }
}
