import EbbCore
import EbbKubernetes
import Foundation

/// `cloud.aws.instance-reboot`: reboots running EC2 instances (by id or tags, at most
/// `max_instances`). A reboot cannot be undone; it ends by itself when the instances are back,
/// so the record says so (``UndoOutcome/gone(reason:)``) and its verification waits until
/// EC2 reports them running.
public enum InstanceReboot: FaultPlugin {
    public static let id = "cloud.aws.instance-reboot"
    public static var undoHandlers: [any UndoHandler.Type] { [InstanceRebooted.self] }
    public static let summary =
        "reboot running EC2 instances chosen by id or tags (at most max_instances); a reboot cannot be undone: the record verifies they run again"
    public static let parameters = EC2Scope.parameters

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        RebootFault(scope: try EC2Scope(parameters, suite: suite))
    }

    struct RebootFault: Fault {
        let scope: EC2Scope

        func plan(_ context: FaultContext) throws -> FaultPlan {
            try scope.plan(verb: "reboot", undo: InstanceRebooted.self) { record in
                "none: a reboot ends by itself; verified: \(record.labels) running again\(record.nodesReady)"
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(EC2Record.self)
            try EC2Client.with(payload.connection) { try $0.reboot(ids: payload.instances.map(\.id)) }
        }
    }
}

/// Undo kind `cloud.aws.instance-reboot`: nothing to take back, as a reboot ends by itself.
/// The undo says so (`gone`, with the reason in the record) and the verification waits until
/// DescribeInstances reports every rebooted instance `running`.
///
/// EC2 keeps a rebooting instance in the `running` state, so this proves the instance was not
/// left stopped, not that its operating system is back: a check on the service says that.
public enum InstanceRebooted: UndoHandler {
    public typealias Payload = EC2Record

    public static let kind = "cloud.aws.instance-reboot"
    /// A remote API: the record can be executed from any machine with keys for the account.
    public static let actsOnHost = false

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let labels = payload.instances.map(\.label).joined(separator: ", ")
        var reason = "a reboot cannot be undone; it ends by itself: \(labels) verified running again"
        // Terminated meanwhile: said in the record, as the stop's undo does.
        if let note = try EC2Client.with(
            payload.connection, { EC2Wait.goneNote(try EC2Wait.known($0, payload.instances), payload.instances) })
        {
            reason += "; \(note)"
        }
        return .gone(reason: reason)
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try EC2Wait.verify(
            payload.connection, payload.instances, cluster: payload.cluster,
            timeout: .seconds(payload.runningTimeoutSeconds))
    }
}
