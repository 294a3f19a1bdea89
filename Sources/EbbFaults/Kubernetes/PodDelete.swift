import EbbCore
import EbbKubernetes
import Foundation

/// `k8s.pod-delete`: deletes pods chosen by namespace and label selector (Krkn's pod
/// scenarios). Irreversible by nature: the pods' controller brings replacements, and the
/// scenario's recovery check measures how long until the selector has enough Ready pods again.
public enum PodDelete: FaultPlugin {
    public static let id = "k8s.pod-delete"
    public static var undoHandlers: [any UndoHandler.Type] { [PodGone.self] }
    public static let summary =
        "delete pods matching a label selector (count or percent); irreversible: the record says so and a recovery check measures the time until enough pods are Ready again"
    public static let parameters =
        KubeScope.namespaced + KubeScope.blastRadius + [
            ParameterSpec("selector", .string, required: true, "label selector of the pods, e.g. app=web"),
            ParameterSpec("count", .integer, "how many matching pods to delete (default 1)"),
            ParameterSpec("percent", .integer, "or this share of the matching pods, 1-100, rounded up"),
            ParameterSpec("grace_period", .duration, "termination grace period (default: the pods' own)"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let count = try parameters.integer("count")
        let percent = try parameters.integer("percent")
        if count != nil, percent != nil { throw parameters.error("percent", "give count or percent, not both") }
        if let count, count < 1 { throw parameters.error("count", "must be at least 1") }
        if let percent, !(1...100).contains(percent) { throw parameters.error("percent", "must be from 1 to 100") }
        return DeleteFault(
            scope: try KubeScope(parameters, suite: suite), selector: try KubeScope.selector(parameters, "selector")!,
            count: count, percent: percent,
            gracePeriod: try parameters.duration("grace_period").map { Int($0.components.seconds) })
    }

    struct DeleteFault: Fault {
        let scope: KubeScope
        let selector: LabelSelector
        let count: Int?
        let percent: Int?
        let gracePeriod: Int?

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let source = scope.source.pinned()
            return try KubeScope.withClient(source) { client in
                let namespace = try scope.resolveNamespace(client)
                let pods = try client.list(
                    KubeResource.pods.collection(in: namespace), labelSelector: selector.description
                )
                .filter { selector.matches($0.value(at: "metadata.labels")?.stringMap ?? [:]) }
                .filter { $0.value(at: "metadata.deletionTimestamp") == nil && !scope.isProtected($0) }
                let wanted = percent.map { Int((Double(pods.count * $0) / 100).rounded(.up)) } ?? count ?? 1
                let what = "pods \(selector) in namespace \(namespace)"
                let chosen = try scope.admit(Array(pods.shuffled().prefix(wanted)), what: what)
                let targets = (chosen ?? []).map {
                    PodGone.Pod(name: KubeOwnership.name($0), uid: $0.value(at: "metadata.uid")?.stringValue)
                }
                let payload = PodGone.Payload(
                    source: source, namespace: namespace, selector: selector.description, pods: targets,
                    gracePeriodSeconds: gracePeriod)
                let target =
                    chosen == nil
                    ? "\(what): none (skipped, empty: skip)"
                    : "pod \(targets.map(\.name).joined(separator: ", ")) in \(namespace) (of \(pods.count) matching \(selector))"
                return try FaultPlan(
                    target: target, undo: PodGone.self, payload: payload,
                    undoSummary:
                        "none: deleted pods cannot come back; their controller replaces them, a recovery check measures it"
                )
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(PodGone.Payload.self)
            try KubeScope.withClient(payload.source) { client in
                for pod in payload.pods {
                    // The uid precondition makes sure a replacement that took the name is not deleted instead.
                    try client.delete(
                        KubeResource.pods.path(pod.name, in: payload.namespace),
                        gracePeriodSeconds: payload.gracePeriodSeconds,
                        uid: pod.uid)
                }
            }
        }
    }
}

/// Undo kind `k8s.pod-delete`: nothing to take back. The record keeps which pods were deleted.
public enum PodGone: UndoHandler {
    public struct Pod: Codable, Sendable {
        var name: String
        var uid: String?
    }

    public struct Payload: Codable, Sendable {
        var source: ClusterSource
        var namespace: String
        var selector: String
        var pods: [Pod]
        var gracePeriodSeconds: Int?
    }

    public static let kind = "k8s.pod-delete"
    /// A cluster object: the record can be executed from any machine that reaches the cluster.
    public static let actsOnHost = false

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard !payload.pods.isEmpty else { return .undone }
        return .irreversible(
            reason:
                "deleted pods \(payload.pods.map(\.name).joined(separator: ", ")) cannot be restored; their controller replaces them (a recovery check on \(payload.selector) measures it)"
        )
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {}
}
