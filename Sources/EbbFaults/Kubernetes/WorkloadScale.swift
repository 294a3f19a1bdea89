import EbbCore
import EbbKubernetes
import Foundation

/// `k8s.scale`: scales a Deployment or StatefulSet to N replicas through its `scale`
/// subresource (0 for an outage). The record holds the previous count; the workload is
/// annotated with the run id while the fault is live, so recovery knows the change is its own.
public enum WorkloadScale: FaultPlugin {
    public static let id = "k8s.scale"
    public static var undoHandlers: [any UndoHandler.Type] { [ScaleRestore.self] }
    public static let summary =
        "scale a Deployment or StatefulSet to N replicas (0: outage); undo: restore the previous count unless someone else changed it, wait until ready, verified"
    public static let parameters =
        KubeScope.namespaced + [
            ParameterSpec("kind", .string, "deployment (default) or statefulset"),
            ParameterSpec("name", .string, required: true, "the workload's name"),
            ParameterSpec("replicas", .integer, required: true, "replica count while the fault is live"),
            ParameterSpec(
                "ready_timeout", .duration,
                "how long the undo waits for the restored replicas to be ready (default 120s)"),
            ParameterSpec(
                "protected_labels", .argv,
                "label selectors of workloads never scaled; \(KubeScope.protectedLabel)=true always is"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let kind = try parameters.string("kind") ?? "deployment"
        let resource: KubeResource
        switch kind {
        case "deployment": resource = .deployments
        case "statefulset": resource = .statefulsets
        default: throw parameters.error("kind", "'\(kind)' is neither deployment nor statefulset")
        }
        let replicas = try parameters.integer("replicas")!
        guard replicas >= 0 else { throw parameters.error("replicas", "must be 0 or more") }
        return ScaleFault(
            scope: try KubeScope(parameters, suite: suite), resource: resource, name: try parameters.string("name")!,
            replicas: replicas, readyTimeout: try parameters.duration("ready_timeout") ?? .seconds(120))
    }

    struct ScaleFault: Fault {
        let scope: KubeScope
        let resource: KubeResource
        let name: String
        let replicas: Int
        let readyTimeout: Duration

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let source = scope.source.pinned()
            return try KubeScope.withClient(source) { client in
                let namespace = try scope.resolveNamespace(client)
                let object = try client.get(resource.path(name, in: namespace))
                if scope.isProtected(object) {
                    throw FaultError(description: "\(resource.rawValue) \(namespace)/\(name) carries a protected label")
                }
                if let owner = KubeOwnership.annotation(object, KubeOwnership.scaledBy), owner != context.runID {
                    throw FaultError(
                        description:
                            "\(resource.rawValue) \(namespace)/\(name) is already scaled by Ebb run \(owner); refusing to stack faults"
                    )
                }
                guard let previous = object.value(at: "spec.replicas")?.numberValue.map(Int.init) else {
                    throw FaultError(description: "\(resource.rawValue) \(namespace)/\(name) has no spec.replicas")
                }
                let payload = ScaleRestore.Payload(
                    source: source, resource: resource, namespace: namespace, name: name,
                    previous: previous, replicas: replicas, readyTimeoutSeconds: readyTimeout.seconds)
                return try FaultPlan(
                    target: "\(resource.rawValue) \(namespace)/\(name): \(previous) -> \(replicas) replicas",
                    undo: ScaleRestore.self, payload: payload,
                    undoSummary:
                        "scale \(namespace)/\(name) back to \(previous) replicas unless changed meanwhile, wait until ready"
                )
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ScaleRestore.Payload.self)
            try KubeScope.withClient(payload.source) { client in
                // Mark first, then scale: a crash in between leaves a mark on an unchanged count, which the undo clears.
                let mark = try SweepMark(
                    kind: ScaleRestore.kind, context: context, data: ScaleRestore.SweepData(payload))
                try client.mergePatch(
                    payload.path,
                    [
                        "metadata": .object(
                            SweepMark.metadata(
                                KubeOwnership.scaledBy, runID: context.runID,
                                mark: (mark, context.deadline)))
                    ])
                try client.update(payload.path + "/scale") { _ in
                    ["spec": ["replicas": .number(Double(payload.replicas))]]
                }
            }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(ScaleRestore.Payload.self)
            try KubeScope.withClient(payload.source) {
                try SweepMark.extend(payload.path, runID: context.runID, to: context.deadline, with: $0)
            }
        }
    }
}

/// Undo kind `k8s.scale-restore`: puts the previous replica count back if the count is still
/// the one Ebb set; if someone else changed it meanwhile, leaves theirs and reports a conflict.
/// Then waits until the workload is ready again.
public enum ScaleRestore: UndoHandler {
    public struct Payload: Codable, Sendable {
        var source: ClusterSource
        var resource: KubeResource
        var namespace: String
        var name: String
        var previous: Int
        var replicas: Int
        var readyTimeoutSeconds: Double

        var path: String { resource.path(name, in: namespace) }
        var label: String { "\(resource.rawValue) \(namespace)/\(name)" }
    }

    /// What the `ebb.dev/undo` annotation holds; the sweep adds the rest from the object.
    struct SweepData: Codable, Sendable {
        var previous: Int
        var replicas: Int
        var readyTimeoutSeconds: Double

        init(_ payload: Payload) {
            previous = payload.previous
            replicas = payload.replicas
            readyTimeoutSeconds = payload.readyTimeoutSeconds
        }
    }

    public static let kind = "k8s.scale-restore"
    /// A cluster object: the record can be executed from any machine that reaches the cluster.
    public static let actsOnHost = false

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try KubeScope.withClient(payload.source) { client in
            // The workload is gone: nothing to restore.
            guard let object = try client.find(payload.path) else { return }
            let mark = KubeOwnership.annotation(object, KubeOwnership.scaledBy)
            guard mark == context.runID else {
                if let mark {
                    throw FaultError(
                        description: "\(payload.label) is marked by Ebb run \(mark), not this one; left alone")
                }
                return  // never injected (a crash before the mark)
            }
            let current = object.value(at: "spec.replicas")?.numberValue.map(Int.init)
            var conflict: KubeConflict?
            if current == payload.replicas, payload.replicas != payload.previous {
                try client.update(payload.path + "/scale") { scale in
                    let now = scale.value(at: "spec.replicas")?.numberValue.map(Int.init)
                    // Already the previous count: another sweep (or recovery) restored it first.
                    if now == payload.previous { return nil }
                    guard now == payload.replicas else {
                        conflict = KubeConflict(
                            description:
                                "\(payload.label): replicas changed to \(now.map(String.init) ?? "none") by someone else while Ebb restored \(payload.previous); left as is"
                        )
                        return nil
                    }
                    return ["spec": ["replicas": .number(Double(payload.previous))]]
                }
            } else if current != payload.previous {
                conflict = KubeConflict(
                    description:
                        "\(payload.label): replicas are \(current.map(String.init) ?? "none"), not the \(payload.replicas) Ebb set: someone else scaled it meanwhile; Ebb left their count (it would have restored \(payload.previous))"
                )
            }
            // Conditional, and only while the mark is still this run's: a stale second sweep must
            // not strip the marks of a run that scaled the workload again in between.
            try client.update(payload.path) { object in
                guard KubeOwnership.annotation(object, KubeOwnership.scaledBy) == context.runID else { return nil }
                return [
                    "metadata": .object(SweepMark.metadata(KubeOwnership.scaledBy, runID: context.runID, mark: nil))
                ]
            }
            if let conflict { throw conflict }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try KubeScope.withClient(payload.source) { client in
            var last = JSONValue.null
            var foreign: Int?
            let ready = Poll.until(timeout: .seconds(payload.readyTimeoutSeconds), every: .milliseconds(250)) {
                guard case .success(let found) = Result(catching: { try client.find(payload.path) }) else {
                    return false
                }  // no answer: ask again
                guard let object = found else { return true }  // the workload is gone: nothing left of the fault
                last = object
                let count = object.value(at: "spec.replicas")?.numberValue.map(Int.init)
                if count != payload.previous {
                    // The undo set the count or left someone else's: waiting cannot change that.
                    foreign = count ?? -1
                    return true
                }
                // A status the controller has not yet recomputed for the restored spec still
                // shows the old ready count: it proves nothing until observedGeneration catches up.
                let generation = object.value(at: "metadata.generation")?.numberValue
                let observed = object.value(at: "status.observedGeneration")?.numberValue
                let current = generation == nil || observed == nil || observed! >= generation!
                return current && Int(object.value(at: "status.readyReplicas")?.numberValue ?? 0) >= payload.previous
                    && KubeOwnership.annotation(object, KubeOwnership.scaledBy) != context.runID
            }
            if let foreign {
                throw VerificationFailure(
                    "\(payload.label): replicas are \(foreign), not the previous \(payload.previous): someone else changed them during the fault; Ebb left their count"
                )
            }
            guard ready else {
                throw VerificationFailure(
                    "\(payload.label): expected \(payload.previous) ready replicas within \(Int(payload.readyTimeoutSeconds))s; spec.replicas \(last.value(at: "spec.replicas") ?? .null), status.readyReplicas \(last.value(at: "status.readyReplicas") ?? .null)"
                )
            }
        }
    }
}
