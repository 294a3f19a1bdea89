import EbbCore
import Foundation

/// `process.throttle`: moves the targets into a cgroup of the run's own whose CPU bandwidth is
/// capped (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`), so they get at most `percent` of one core.
public enum ProcessThrottle: FaultPlugin {
    public static let id = "process.throttle"
    public static var undoHandlers: [any UndoHandler.Type] { [ProcessUnthrottle.self] }
    public static let summary =
        "cap the target processes' CPU at `percent` of one core in a cgroup of the run's own (v2 cpu.max or v1 cfs quota; root); undo: move them back, remove the cgroup, verified"
    public static let parameters =
        ProcessSelector.parameters + [
            ParameterSpec(
                "percent", .number, required: true,
                "CPU share of one core the targets may use together (e.g. 20; 200 is two cores)")
        ]

    /// The scheduler period the quota is a share of: the kernel's default, 100 ms.
    static let periodMicroseconds = 100_000

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let percent = try parameters.number("percent")!
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        guard percent >= 1, percent <= 100 * cores else {
            throw parameters.error(
                "percent", "percent must be from 1 to \(Int(100 * cores)) (100 per core of this machine)")
        }
        return ThrottleFault(
            selector: try ProcessSelector(parameters, suite: suite),
            quotaMicroseconds: Int(percent / 100 * Double(periodMicroseconds)), percent: percent)
    }

    struct ThrottleFault: Fault {
        let selector: ProcessSelector
        let quotaMicroseconds: Int
        let percent: Double

        func plan(_ context: FaultContext) throws -> FaultPlan {
            guard let hierarchy = CgroupHierarchy.cpu() else {
                throw FaultError(
                    description:
                        "no cgroup CPU controller is available (neither cgroup v2 with cpu enabled at its root nor the v1 cpu controller)"
                )
            }
            let group = "/ebb-\(context.runID)-\(context.sequence)"
            let targets =
                selector.fixturePendingInDryRun(context) != nil
                ? [] : try hierarchy.targets(selector.resolve(fixturePIDs: context.fixturePIDs))
            let labels =
                targets.isEmpty ? "the fixture's processes" : targets.map(\.process.label).joined(separator: ", ")
            return try FaultPlan(
                target: "\(labels) capped at \(percent)% of one core", undo: ProcessUnthrottle.self,
                payload: ProcessUnthrottle.Payload(hierarchy: hierarchy, group: group, targets: targets),
                undoSummary:
                    "move \(labels) back out of \(hierarchy.path(group)) (cgroup \(hierarchy.version.rawValue)), remove it",
                lockKeys: targets.map(\.process.lockKey))
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ProcessUnthrottle.Payload.self)
            let hierarchy = payload.hierarchy
            try hierarchy.create(payload.group)
            CgroupMark.mark(
                plan, group: payload.group, in: hierarchy, expires: context.deadline, logger: context.logger)
            // The cap is in place before the first target moves in.
            switch hierarchy.version {
            case .v2:
                try hierarchy.write(
                    "\(quotaMicroseconds) \(ProcessThrottle.periodMicroseconds)",
                    to: "\(hierarchy.path(payload.group))/cpu.max")
            case .v1:
                try hierarchy.write(
                    "\(ProcessThrottle.periodMicroseconds)", to: "\(hierarchy.path(payload.group))/cpu.cfs_period_us")
                try hierarchy.write("\(quotaMicroseconds)", to: "\(hierarchy.path(payload.group))/cpu.cfs_quota_us")
            }
            for target in payload.targets {
                guard target.process.isRunning else {
                    throw FaultError(description: "\(target.process.label) exited before it could be throttled")
                }
                try hierarchy.move(target.process.pid, to: payload.group)
            }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ProcessUnthrottle.Payload.self)
            CgroupMark.mark(
                plan, group: payload.group, in: payload.hierarchy, expires: context.deadline, logger: context.logger)
        }
    }
}

/// Undo kind `process.unthrottle`: moves every process in the run's CPU cgroup back where the
/// targets came from and removes the group (its cap goes with it).
public enum ProcessUnthrottle: UndoHandler {
    public struct Payload: Codable, Sendable {
        var hierarchy: CgroupHierarchy
        /// The run's own cgroup, `/ebb-<run id>-<seq>`.
        var group: String
        var targets: [CgroupTarget]
    }

    public static let kind = "process.unthrottle"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard payload.hierarchy.exists(payload.group) else { return .undone }  // never created, or already removed
        try payload.hierarchy.release(payload.group, to: payload.targets)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try payload.hierarchy.verifyReleased(payload.group, payload.targets)
    }
}
