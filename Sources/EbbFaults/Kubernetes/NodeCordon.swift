import EbbCore
import EbbKubernetes
import Foundation

/// `k8s.node-cordon`: cordons nodes (by name or label selector) and optionally taints them
/// `NoSchedule` or `NoExecute` with a taint of the run's own (Krkn's node scenarios, the
/// reversible part). The undo uncordons only nodes that were schedulable before and removes
/// only the run's taint, never one that was already there.
public enum NodeCordon: FaultPlugin {
    public static let id = "k8s.node-cordon"
    public static var undoHandlers: [any UndoHandler.Type] { [NodeUncordon.self] }
    public static let summary =
        "cordon nodes and optionally add a NoSchedule/NoExecute taint of the run's own; undo: uncordon what Ebb cordoned, remove only its taint, verified"
    public static let parameters =
        KubeScope.connection + KubeScope.blastRadius + [
            ParameterSpec("node", .string, "the node's name"),
            ParameterSpec("selector", .string, "or a label selector of nodes"),
            ParameterSpec("taint", .string, "also taint the nodes: NoSchedule or NoExecute"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let node = try parameters.string("node")
        let selector = try KubeScope.selector(parameters, "selector")
        guard (node == nil) != (selector == nil) else { throw parameters.error("node", "give either node or selector") }
        let taint = try parameters.string("taint")
        if let taint, !["NoSchedule", "NoExecute"].contains(taint) {
            throw parameters.error("taint", "'\(taint)' is neither NoSchedule nor NoExecute")
        }
        return CordonFault(scope: try KubeScope(parameters, suite: suite), node: node, selector: selector, taint: taint)
    }

    struct CordonFault: Fault {
        let scope: KubeScope
        let node: String?
        let selector: LabelSelector?
        let taint: String?

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let source = scope.source.pinned()
            return try KubeScope.withClient(source) { client in
                let found: [JSONValue]
                let what: String
                if let node {
                    found = [try client.get(KubeResource.nodes.path(node, in: nil))]
                    what = "node \(node)"
                } else {
                    let selector = selector!
                    found = try client.list(KubeResource.nodes.collection(in: nil), labelSelector: selector.description)
                        .filter { selector.matches($0.value(at: "metadata.labels")?.stringMap ?? [:]) }
                    what = "nodes \(selector)"
                }
                let admitted = try scope.admit(found.filter { !scope.isProtected($0) }, what: what) ?? []
                let nodes = try admitted.map { object in
                    let name = KubeOwnership.name(object)
                    if let owner = KubeOwnership.annotation(object, KubeOwnership.cordonedBy), owner != context.runID {
                        throw FaultError(
                            description:
                                "node \(name) is already cordoned by Ebb run \(owner); refusing to stack faults")
                    }
                    return NodeUncordon.Node(
                        name: name, wasUnschedulable: object.value(at: "spec.unschedulable") == .bool(true))
                }
                let payload = NodeUncordon.Payload(source: source, nodes: nodes, taint: taint)
                let names = nodes.map(\.name).joined(separator: ", ")
                return try FaultPlan(
                    target: nodes.isEmpty
                        ? "\(what): none (skipped, empty: skip)"
                        : "node \(names)\(taint.map { ", taint \($0)" } ?? "")",
                    undo: NodeUncordon.self, payload: payload,
                    undoSummary:
                        "uncordon \(names) unless cordoned before\(taint.map { ", remove the run's \(KubeOwnership.taintKey):\($0) taint" } ?? "")"
                )
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(NodeUncordon.Payload.self)
            try KubeScope.withClient(payload.source) { client in
                for node in payload.nodes {
                    // Each node carries its own part of the undo: a sweep reverts nodes one by one.
                    let mark = try SweepMark(
                        kind: NodeUncordon.kind, context: context,
                        data: NodeUncordon.SweepData(wasUnschedulable: node.wasUnschedulable, taint: payload.taint))
                    // Taints are a list, replaced whole by a merge patch: the update is conditional on
                    // the version read, so a taint someone adds meanwhile is never lost.
                    try client.update(KubeResource.nodes.path(node.name, in: nil)) { object in
                        var spec: [String: JSONValue] = ["unschedulable": true]
                        if let effect = payload.taint {
                            var taints = object.value(at: "spec.taints")?.arrayValue ?? []
                            if !taints.contains(where: { NodeUncordon.isOwnTaint($0, runID: context.runID) }) {
                                taints.append([
                                    "key": .string(KubeOwnership.taintKey), "value": .string(context.runID),
                                    "effect": .string(effect),
                                ])
                            }
                            spec["taints"] = .array(taints)
                        }
                        return [
                            "metadata": .object(
                                SweepMark.metadata(
                                    KubeOwnership.cordonedBy, runID: context.runID, mark: (mark, context.deadline))),
                            "spec": .object(spec),
                        ]
                    }
                }
            }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(NodeUncordon.Payload.self)
            try KubeScope.withClient(payload.source) { client in
                for node in payload.nodes {
                    try SweepMark.extend(
                        KubeResource.nodes.path(node.name, in: nil), runID: context.runID, to: context.deadline,
                        with: client)
                }
            }
        }
    }
}

/// Undo kind `k8s.node-uncordon`: per node, removes the run's taint, uncordons it if it was
/// schedulable before Ebb cordoned it, and clears the run's mark; verified.
public enum NodeUncordon: UndoHandler {
    public struct Node: Codable, Sendable {
        var name: String
        var wasUnschedulable: Bool
    }

    public struct Payload: Codable, Sendable {
        var source: ClusterSource
        var nodes: [Node]
        var taint: String?
    }

    /// What the `ebb.dev/undo` annotation of one node holds; the sweep adds the node's name.
    struct SweepData: Codable, Sendable {
        var wasUnschedulable: Bool
        var taint: String?
    }

    public static let kind = "k8s.node-uncordon"
    /// A cluster object: the record can be executed from any machine that reaches the cluster.
    public static let actsOnHost = false

    static func isOwnTaint(_ taint: JSONValue, runID: String) -> Bool {
        taint["key"]?.stringValue == KubeOwnership.taintKey && taint["value"]?.stringValue == runID
    }

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try KubeScope.withClient(payload.source) { client in
            for node in payload.nodes {
                let path = KubeResource.nodes.path(node.name, in: nil)
                guard try client.find(path) != nil else { continue }  // the node left the cluster
                try client.update(path) { object in
                    let marked = KubeOwnership.annotation(object, KubeOwnership.cordonedBy) == context.runID
                    let taints = object.value(at: "spec.taints")?.arrayValue ?? []
                    let kept = taints.filter { !isOwnTaint($0, runID: context.runID) }
                    guard marked || kept.count != taints.count else { return nil }  // never injected, or already undone
                    var spec: [String: JSONValue] = [:]
                    // No taints left: remove the field, as the API server itself omits an empty list.
                    if kept.count != taints.count { spec["taints"] = kept.isEmpty ? .null : .array(kept) }
                    if marked, !node.wasUnschedulable { spec["unschedulable"] = .null }
                    // The sweep's marks go with the run's own mark; an unmarked node's labels may be another run's.
                    let metadata =
                        marked ? SweepMark.metadata(KubeOwnership.cordonedBy, runID: context.runID, mark: nil) : [:]
                    return ["metadata": .object(metadata), "spec": .object(spec)]
                }
            }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try KubeScope.withClient(payload.source) { client in
            for node in payload.nodes {
                guard let object = try client.find(KubeResource.nodes.path(node.name, in: nil)) else { continue }
                if KubeOwnership.annotation(object, KubeOwnership.cordonedBy) == context.runID {
                    throw VerificationFailure(
                        "node \(node.name) still carries \(KubeOwnership.cordonedBy)=\(context.runID)")
                }
                if (object.value(at: "spec.taints")?.arrayValue ?? []).contains(where: {
                    isOwnTaint($0, runID: context.runID)
                }) {
                    throw VerificationFailure("node \(node.name) still has the run's taint \(KubeOwnership.taintKey)")
                }
                if !node.wasUnschedulable, object.value(at: "spec.unschedulable") == .bool(true) {
                    throw VerificationFailure("node \(node.name) is still cordoned")
                }
            }
        }
    }
}
