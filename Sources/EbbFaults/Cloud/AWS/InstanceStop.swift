import EbbCore
import EbbKubernetes
import Foundation

/// `cloud.aws.instance-stop`: stops running EC2 instances (by id or tags, at most
/// `max_instances`). The undo starts only the instances Ebb stopped and verifies they run.
public enum InstanceStop: FaultPlugin {
    public static let id = "cloud.aws.instance-stop"
    public static var undoHandlers: [any UndoHandler.Type] { [InstanceStart.self] }
    public static let summary =
        "stop running EC2 instances chosen by id or tags (at most max_instances); undo: start them, verified running"
    public static let parameters =
        EC2Scope.parameters + [
            ParameterSpec(
                "force", .boolean, "stop without the guest's orderly shutdown (StopInstances Force; default false)")
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        StopFault(scope: try EC2Scope(parameters, suite: suite), force: try parameters.boolean("force") ?? false)
    }

    struct StopFault: Fault {
        let scope: EC2Scope
        let force: Bool

        func plan(_ context: FaultContext) throws -> FaultPlan {
            try scope.plan(verb: "stop", undo: InstanceStart.self) { record in
                "start \(record.labels) and wait until running\(record.nodesReady)"
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(EC2Record.self)
            try EC2Client.with(payload.connection) { try $0.stop(ids: payload.instances.map(\.id), force: force) }
        }
    }
}

/// Undo kind `cloud.aws.instance-start`: starts the recorded instances and verifies that
/// DescribeInstances reports every one `running`.
///
/// Idempotent: a running or pending instance is left alone, a stopping one is waited for
/// until it has stopped (EC2 refuses to start it before), a terminated one is reported.
public enum InstanceStart: UndoHandler {
    public typealias Payload = EC2Record

    public static let kind = "cloud.aws.instance-start"
    /// A remote API: the record can be executed from any machine with keys for the account.
    public static let actsOnHost = false

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try EC2Client.with(payload.connection) { client in
            var found = try EC2Wait.known(client, payload.instances)
            // EC2 refuses StartInstances while an instance is still stopping: wait for it.
            let stopping = payload.instances.filter { (found[$0.id] ?? nil)?.state == "stopping" }
            if !stopping.isEmpty {
                _ = Poll.until(timeout: .seconds(payload.runningTimeoutSeconds), every: .seconds(2)) {
                    guard let now = try? EC2Wait.known(client, stopping) else { return false }
                    for (id, instance) in now { found[id] = instance }
                    return now.values.allSatisfy { $0?.state != "stopping" }
                }
            }
            let toStart = payload.instances.filter {
                (found[$0.id] ?? nil)?.state == "stopped" || (found[$0.id] ?? nil)?.state == "stopping"
            }
            if !toStart.isEmpty { try client.start(ids: toStart.map(\.id)) }
            if let note = EC2Wait.goneNote(found, payload.instances) {
                context.logger.warning("\(note)")
                return .gone(reason: note)
            }
            return .undone
        }
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try EC2Wait.verify(
            payload.connection, payload.instances, cluster: payload.cluster,
            timeout: .seconds(payload.runningTimeoutSeconds))
    }
}
