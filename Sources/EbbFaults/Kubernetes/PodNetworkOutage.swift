import EbbCore
import EbbKubernetes
import Foundation

/// `k8s.network-outage`: a deny-all NetworkPolicy (ingress, egress or both) for the pods a
/// selector picks, named and labelled with the run id (Krkn's pod network outage). Protected
/// labels become `NotIn`/`DoesNotExist` expressions, so the policy itself spares those pods.
public enum PodNetworkOutage: FaultPlugin {
    public static let id = "k8s.network-outage"
    public static var undoHandlers: [any UndoHandler.Type] { [NetworkPolicyRemove.self] }
    public static let summary =
        "deny all ingress and/or egress of the pods matching a selector with a NetworkPolicy of the run's own; undo: delete it, verified gone"
    public static let parameters =
        KubeScope.namespaced + KubeScope.blastRadius + [
            ParameterSpec("selector", .string, required: true, "label selector of the pods to cut off, e.g. app=web"),
            ParameterSpec("direction", .string, "ingress, egress or both (default both)"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let direction = try parameters.string("direction") ?? "both"
        guard ["ingress", "egress", "both"].contains(direction) else {
            throw parameters.error("direction", "'\(direction)' is not ingress, egress or both")
        }
        return OutageFault(
            scope: try KubeScope(parameters, suite: suite), selector: try KubeScope.selector(parameters, "selector")!,
            direction: direction)
    }

    struct OutageFault: Fault {
        let scope: KubeScope
        let selector: LabelSelector
        let direction: String

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let source = scope.source.pinned()
            return try KubeScope.withClient(source) { client in
                let namespace = try scope.resolveNamespace(client)
                let pods = try client.list(
                    KubeResource.pods.collection(in: namespace), labelSelector: selector.description
                )
                .filter {
                    selector.matches($0.value(at: "metadata.labels")?.stringMap ?? [:]) && !scope.isProtected($0)
                }
                let what = "pods \(selector) in namespace \(namespace)"
                let name = "ebb-\(context.runID)-\(context.sequence)"
                guard try scope.admit(pods, what: what) != nil else {
                    return try FaultPlan(
                        target: "\(what): none (skipped, empty: skip)", undo: NetworkPolicyRemove.self,
                        payload: NetworkPolicyRemove.Payload(
                            source: source, namespace: namespace, name: name, policy: nil),
                        undoSummary: "nothing to remove")
                }
                let policy = policy(name: name, runID: context.runID)
                return try FaultPlan(
                    target: "\(pods.count) pods \(selector) in \(namespace) (NetworkPolicy \(name), \(direction))",
                    undo: NetworkPolicyRemove.self,
                    payload: NetworkPolicyRemove.Payload(
                        source: source, namespace: namespace, name: name, policy: policy),
                    undoSummary:
                        "delete NetworkPolicy \(namespace)/\(name) (labelled \(KubeOwnership.runLabel)=\(context.runID)), verify it is gone"
                )
            }
        }

        /// A policy that selects the pods and allows nothing in the chosen directions.
        private func policy(name: String, runID: String) -> JSONValue {
            var podSelector = selector
            // The policy must not select a protected pod. Each requirement of a protected
            // selector is inverted and ANDed in: that excludes every pod meeting any of them,
            // a safe superset of "meets all of them", which one selector cannot express.
            for protected in scope.protected {
                for requirement in protected.requirements {
                    switch requirement {
                    case .equals(let key, let value): podSelector.requirements.append(.notEquals(key, value))
                    case .exists(let key): podSelector.requirements.append(.notExists(key))
                    case .notEquals(let key, let value): podSelector.requirements.append(.equals(key, value))
                    case .notExists(let key): podSelector.requirements.append(.exists(key))
                    }
                }
            }
            let types: [JSONValue] = direction == "both" ? ["Ingress", "Egress"] : [.string(direction.capitalized)]
            return [
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": ["name": .string(name), "labels": [KubeOwnership.runLabel: .string(runID)]],
                // No ingress or egress rules: everything in those directions is denied.
                "spec": ["podSelector": .object(podSelector.podSelector), "policyTypes": .array(types)],
            ]
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(NetworkPolicyRemove.Payload.self)
            guard var policy = payload.policy, case .object(var fields) = policy else { return }
            // The sweep's label and annotations are added here, not in the plan: the expiry counts from injection.
            var metadata = fields["metadata"]?.objectValue ?? [:]
            let mark = try SweepMark(kind: NetworkPolicyRemove.kind, context: context, data: JSONValue.object([:]))
            var labels = metadata["labels"]?.objectValue ?? [:]
            labels[SweepMark.runLabel] = .string(context.runID)
            metadata["labels"] = .object(labels)
            metadata["annotations"] = .object(mark.annotations(expiry: context.deadline))
            fields["metadata"] = .object(metadata)
            policy = .object(fields)
            try KubeScope.withClient(payload.source) { client in
                do {
                    try client.create(KubeResource.networkpolicies.collection(in: payload.namespace), policy)
                } catch let error as KubeAPIError where error.status == 409 {
                    // Already there: fine if it is this run's (an injection retried), never if it is anyone else's.
                    let existing = try client.get(
                        KubeResource.networkpolicies.path(payload.name, in: payload.namespace))
                    guard existing.value(at: "metadata.labels")?[KubeOwnership.runLabel]?.stringValue == context.runID
                    else {
                        throw FaultError(
                            description:
                                "NetworkPolicy \(payload.namespace)/\(payload.name) exists and is not this run's; left alone"
                        )
                    }
                }
            }
        }
    }
}

extension PodNetworkOutage.OutageFault {
    func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
        let payload = try plan.undoData.decode(NetworkPolicyRemove.Payload.self)
        guard payload.policy != nil else { return }
        try KubeScope.withClient(payload.source) { client in
            try SweepMark.extend(
                KubeResource.networkpolicies.path(payload.name, in: payload.namespace), runID: context.runID,
                to: context.deadline, with: client)
        }
    }
}

/// Undo kind `k8s.networkpolicy-delete`: deletes the run's NetworkPolicy (only if it carries the
/// run's label) and verifies that it is gone.
public enum NetworkPolicyRemove: UndoHandler {
    public struct Payload: Codable, Sendable {
        var source: ClusterSource
        var namespace: String
        var name: String
        /// The policy created; nil when the selector matched nothing and nothing was created.
        var policy: JSONValue?
    }

    public static let kind = "k8s.networkpolicy-delete"
    /// A cluster object: the record can be executed from any machine that reaches the cluster.
    public static let actsOnHost = false

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard payload.policy != nil else { return .undone }
        let path = KubeResource.networkpolicies.path(payload.name, in: payload.namespace)
        try KubeScope.withClient(payload.source) { client in
            guard let existing = try client.find(path) else { return }  // never created, or already deleted
            let owner = existing.value(at: "metadata.labels")?[KubeOwnership.runLabel]?.stringValue
            guard owner == context.runID else {
                throw FaultError(
                    description:
                        "NetworkPolicy \(payload.namespace)/\(payload.name) is not this run's (\(KubeOwnership.runLabel)=\(owner ?? "none")); refusing to delete it"
                )
            }
            try client.delete(path, uid: existing.value(at: "metadata.uid")?.stringValue)
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        guard payload.policy != nil else { return }
        let path = KubeResource.networkpolicies.path(payload.name, in: payload.namespace)
        let remaining = try KubeScope.withClient(payload.source) { client in
            try client.find(path).flatMap {
                $0.value(at: "metadata.labels")?[KubeOwnership.runLabel]?.stringValue == context.runID ? $0 : nil
            }
        }
        if remaining != nil {
            throw VerificationFailure("NetworkPolicy \(payload.namespace)/\(payload.name) still exists")
        }
    }
}
