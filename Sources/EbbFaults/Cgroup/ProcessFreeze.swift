import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `process.freeze`: moves the targets into a freezer cgroup of the run's own and freezes it.
/// Unlike SIGSTOP, a frozen process cannot tell (no SIGCHLD to its parent, no stopped state).
public enum ProcessFreeze: FaultPlugin {
    public static let id = "process.freeze"
    public static let summary = "freeze the target processes in a cgroup of the run's own (v2 cgroup.freeze or v1 freezer; root); undo: thaw, move them back, remove the cgroup, verified"
    public static let parameters = ProcessSelector.parameters

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        FreezeFault(selector: try ProcessSelector(parameters, suite: suite))
    }

    struct FreezeFault: Fault {
        let selector: ProcessSelector

        func plan(_ context: FaultContext) throws -> FaultPlan {
            guard let freezer = CgroupFreezer.detect() else {
                throw FaultError(description: "no cgroup freezer is mounted (neither cgroup v2 nor the v1 freezer controller)")
            }
            let group = "/ebb-\(context.runID)-\(context.sequence)"
            if let name = selector.fixturePendingInDryRun(context) {
                return try FaultPlan(target: "fixture \(name) (its pid is known once it runs)", undoKind: ProcessThaw.kind,
                                     undoData: ProcessThaw.Payload(freezer: freezer, group: group, targets: []),
                                     undoSummary: "thaw \(freezer.path(group)), move fixture \(name) back")
            }
            let targets = try selector.resolve(fixturePIDs: context.fixturePIDs).map { snapshot in
                guard let original = freezer.cgroup(of: snapshot.pid) else {
                    throw FaultError(description: "cannot read the cgroup of pid \(snapshot.pid)")
                }
                return ProcessThaw.Target(process: RecordedProcess(snapshot), cgroup: original)
            }
            let labels = targets.map(\.process.label).joined(separator: ", ")
            return try FaultPlan(target: labels, undoKind: ProcessThaw.kind,
                                 undoData: ProcessThaw.Payload(freezer: freezer, group: group, targets: targets),
                                 undoSummary: "thaw \(freezer.path(group)) (cgroup \(freezer.version.rawValue)), move \(labels) back, remove it")
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ProcessThaw.Payload.self)
            let freezer = payload.freezer
            try freezer.create(payload.group)
            for target in payload.targets {
                guard target.process.isRunning else { throw FaultError(description: "\(target.process.label) exited before it could be frozen") }
                try freezer.move(target.process.pid, to: payload.group)
            }
            try freezer.setFrozen(true, payload.group)
            guard Poll.until(timeout: .seconds(2), { freezer.isFrozen(payload.group) }) else {
                throw FaultError(description: "\(freezer.path(payload.group)) did not report frozen within 2s")
            }
        }
    }
}

/// Undo kind `process.thaw`: thaws the run's freezer cgroup, moves every process in it back to
/// where the targets came from, and removes the cgroup.
public enum ProcessThaw: UndoHandler {
    public struct Target: Codable, Sendable {
        var process: RecordedProcess
        /// The cgroup the process was in before, relative to the hierarchy's root.
        var cgroup: String
    }

    public struct Payload: Codable, Sendable {
        var freezer: CgroupFreezer
        /// The run's own cgroup, `/ebb-<run id>-<seq>`.
        var group: String
        var targets: [Target]
    }

    public static let kind = "process.thaw"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let freezer = payload.freezer
        guard freezer.exists(payload.group) else { return .undone }   // never created, or already removed
        try freezer.setFrozen(false, payload.group)
        for target in payload.targets where target.process.isRunning && freezer.cgroup(of: target.process.pid) == payload.group {
            // Back where it was; if that cgroup is gone meanwhile, to the hierarchy's root.
            let destination = freezer.exists(target.cgroup) ? target.cgroup : "/"
            try freezer.move(target.process.pid, to: destination)
        }
        // Anything else in the group (a target's child forked in the meantime) goes with the first target.
        for pid in freezer.members(payload.group) {
            let destination = payload.targets.first.map(\.cgroup).flatMap { freezer.exists($0) ? $0 : nil } ?? "/"
            try freezer.move(pid, to: destination)
        }
        try freezer.remove(payload.group)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let freezer = payload.freezer
        guard !freezer.exists(payload.group) else { throw VerificationFailure("cgroup \(freezer.path(payload.group)) still exists") }
        for target in payload.targets where target.process.isRunning {
            if freezer.cgroup(of: target.process.pid) == payload.group {
                throw VerificationFailure("\(target.process.label) is still in \(freezer.path(payload.group))")
            }
        }
    }
}
