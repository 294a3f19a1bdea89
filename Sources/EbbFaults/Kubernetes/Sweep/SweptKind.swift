import EbbCore
import EbbKubernetes
import Foundation

/// One kind of object a Kubernetes fault changes, and how a sweep rebuilds the journal's undo
/// payload from the object and its ``SweepMark``: the sweep then runs the very undo and
/// verification the fault's ``UndoHandler`` runs for `rollback execute`.
struct SweptKind: Sendable {
    var resource: KubeResource
    /// The undo kind an object of this resource may carry.
    var undoKind: String
    /// The plugin that makes such changes, for reports.
    var plugin: String
    var handler: AnyUndoHandler
    /// The run that marked `object` by the fault's own mark (the annotation or label its undo
    /// checks); the sweep acts only when it equals the `ebb.dev/run` label.
    var owner: @Sendable (JSONValue) -> String?
    /// The undo payload, as the journal record would hold it.
    var payload: @Sendable (_ object: JSONValue, _ mark: SweepMark, _ source: ClusterSource) throws -> JSONValue

    /// pod-delete is absent on purpose: deleted pods are not there to carry a mark, and nothing
    /// could bring them back anyway (the journal records them as irreversible).
    static let all: [SweptKind] = [
        scale(.deployments), scale(.statefulsets),
        SweptKind(
            resource: .services, undoKind: SelectorRestore.kind, plugin: ServiceHijack.id,
            handler: AnyUndoHandler(SelectorRestore.self),
            owner: { KubeOwnership.annotation($0, KubeOwnership.hijackedBy) }
        ) { object, mark, source in
            let data = try mark.data.decode(SelectorRestore.SweepData.self)
            return try JSONValue(
                encoding: SelectorRestore.Payload(
                    source: source, namespace: namespace(object), name: KubeOwnership.name(object),
                    original: data.original, injected: data.injected))
        },
        SweptKind(
            resource: .networkpolicies, undoKind: NetworkPolicyRemove.kind, plugin: PodNetworkOutage.id,
            handler: AnyUndoHandler(NetworkPolicyRemove.self),
            owner: { $0.value(at: "metadata.labels")?[KubeOwnership.runLabel]?.stringValue }
        ) { object, _, source in
            try JSONValue(
                encoding: NetworkPolicyRemove.Payload(
                    source: source, namespace: namespace(object), name: KubeOwnership.name(object),
                    policy: object))
        },
        SweptKind(
            resource: .nodes, undoKind: NodeUncordon.kind, plugin: NodeCordon.id,
            handler: AnyUndoHandler(NodeUncordon.self),
            owner: { KubeOwnership.annotation($0, KubeOwnership.cordonedBy) }
        ) { object, mark, source in
            let data = try mark.data.decode(NodeUncordon.SweepData.self)
            return try JSONValue(
                encoding: NodeUncordon.Payload(
                    source: source,
                    nodes: [.init(name: KubeOwnership.name(object), wasUnschedulable: data.wasUnschedulable)],
                    taint: data.taint))
        },
    ]

    private static func scale(_ resource: KubeResource) -> SweptKind {
        SweptKind(
            resource: resource, undoKind: ScaleRestore.kind, plugin: WorkloadScale.id,
            handler: AnyUndoHandler(ScaleRestore.self),
            owner: { KubeOwnership.annotation($0, KubeOwnership.scaledBy) }
        ) { object, mark, source in
            let data = try mark.data.decode(ScaleRestore.SweepData.self)
            return try JSONValue(
                encoding: ScaleRestore.Payload(
                    source: source, resource: resource, namespace: namespace(object),
                    name: KubeOwnership.name(object), previous: data.previous,
                    replicas: data.replicas, readyTimeoutSeconds: data.readyTimeoutSeconds))
        }
    }

    private static func namespace(_ object: JSONValue) throws -> String {
        guard let namespace = object.value(at: "metadata.namespace")?.stringValue else {
            throw FaultError(description: "\(KubeOwnership.name(object)) has no metadata.namespace")
        }
        return namespace
    }

    /// `deployment shop/web`, `node node-1`: how reports name an object.
    func label(_ object: JSONValue) -> String {
        let singular = resource == .networkpolicies ? "networkpolicy" : String(resource.rawValue.dropLast())
        let namespace = object.value(at: "metadata.namespace")?.stringValue
        return "\(singular) \(namespace.map { "\($0)/" } ?? "")\(KubeOwnership.name(object))"
    }
}
