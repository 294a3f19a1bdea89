import EbbCore
import EbbKubernetes
import Foundation

/// `k8s.service-hijack`: points a Service's selector at nothing (an outage) or at another label
/// set (Krkn's service hijacking, done by re-selecting rather than by a fake web server). The
/// record holds the original selector; the undo restores it exactly.
public enum ServiceHijack: FaultPlugin {
    public static let id = "k8s.service-hijack"
    public static var undoHandlers: [any UndoHandler.Type] { [SelectorRestore.self] }
    public static let summary =
        "point a Service's selector at nothing (outage) or at other labels; undo: restore the original selector exactly unless changed meanwhile, verified"
    public static let parameters =
        KubeScope.namespaced + [
            ParameterSpec("service", .string, required: true, "the Service's name"),
            ParameterSpec(
                "selector", .string,
                "the selector to point it at, e.g. app=maintenance (default: a label no pod has, an outage)"),
            ParameterSpec(
                "protected_labels", .argv,
                "label selectors of Services never hijacked; \(KubeScope.protectedLabel)=true always is"),
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let selector = try KubeScope.selector(parameters, "selector")
        if let selector,
            selector.requirements.contains(where: { if case .equals = $0 { return false } else { return true } })
        {
            throw parameters.error("selector", "a Service selector is key=value pairs only")
        }
        return HijackFault(
            scope: try KubeScope(parameters, suite: suite), service: try parameters.string("service")!,
            selector: selector)
    }

    struct HijackFault: Fault {
        let scope: KubeScope
        let service: String
        let selector: LabelSelector?

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let source = scope.source.pinned()
            return try KubeScope.withClient(source) { client in
                let namespace = try scope.resolveNamespace(client)
                let object = try client.get(KubeResource.services.path(service, in: namespace))
                if scope.isProtected(object) {
                    throw FaultError(description: "service \(namespace)/\(service) carries a protected label")
                }
                if let owner = KubeOwnership.annotation(object, KubeOwnership.hijackedBy), owner != context.runID {
                    throw FaultError(
                        description:
                            "service \(namespace)/\(service) is already hijacked by Ebb run \(owner); refusing to stack faults"
                    )
                }
                let original = object.value(at: "spec.selector")?.stringMap ?? [:]
                guard !original.isEmpty else {
                    throw FaultError(
                        description:
                            "service \(namespace)/\(service) has no selector (its endpoints are managed by hand); nothing to hijack"
                    )
                }
                var injected: [String: String] = [:]
                for case .equals(let key, let value) in selector?.requirements ?? [] { injected[key] = value }
                if injected.isEmpty { injected = [KubeOwnership.hijackedBy: context.runID] }
                let payload = SelectorRestore.Payload(
                    source: source, namespace: namespace, name: service, original: original, injected: injected)
                return try FaultPlan(
                    target:
                        "service \(namespace)/\(service): selector \(LabelSelector(equalTo: original)) -> \(LabelSelector(equalTo: injected))",
                    undo: SelectorRestore.self, payload: payload,
                    undoSummary:
                        "restore the selector of \(namespace)/\(service) to \(LabelSelector(equalTo: original)) unless changed meanwhile"
                )
            }
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(SelectorRestore.Payload.self)
            let mark = try SweepMark(
                kind: SelectorRestore.kind, context: context,
                data: SelectorRestore.SweepData(original: payload.original, injected: payload.injected))
            try KubeScope.withClient(payload.source) { client in
                try client.update(payload.path) { object in
                    let current = object.value(at: "spec.selector")?.stringMap ?? [:]
                    guard current == payload.original || current == payload.injected else {
                        throw FaultError(
                            description:
                                "service \(payload.namespace)/\(payload.name): the selector changed since it was planned; nothing injected"
                        )
                    }
                    return [
                        "metadata": .object(
                            SweepMark.metadata(
                                KubeOwnership.hijackedBy, runID: context.runID, mark: (mark, context.deadline))),
                        "spec": ["selector": SelectorRestore.patch(from: current, to: payload.injected)],
                    ]
                }
            }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(SelectorRestore.Payload.self)
            try KubeScope.withClient(payload.source) {
                try SweepMark.extend(payload.path, runID: context.runID, to: context.deadline, with: $0)
            }
        }
    }
}

/// Undo kind `k8s.service-restore`: puts the Service's original selector back if it still is
/// the one Ebb set; if someone else changed it meanwhile, leaves theirs and reports a conflict.
public enum SelectorRestore: UndoHandler {
    public struct Payload: Codable, Sendable {
        var source: ClusterSource
        var namespace: String
        var name: String
        var original: [String: String]
        var injected: [String: String]

        var path: String { KubeResource.services.path(name, in: namespace) }
    }

    /// What the `ebb.dev/undo` annotation holds; the sweep adds the rest from the object.
    struct SweepData: Codable, Sendable {
        var original: [String: String]
        var injected: [String: String]
    }

    public static let kind = "k8s.service-restore"
    /// A cluster object: the record can be executed from any machine that reaches the cluster.
    public static let actsOnHost = false

    /// A merge patch turning selector `current` into `target` exactly: keys not in `target` become null.
    static func patch(from current: [String: String], to target: [String: String]) -> JSONValue {
        var fields = current.keys.filter { target[$0] == nil }.reduce(into: [String: JSONValue]()) { $0[$1] = .null }
        for (key, value) in target { fields[key] = .string(value) }
        return .object(fields)
    }

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        var conflict: KubeConflict?
        try KubeScope.withClient(payload.source) { client in
            guard try client.find(payload.path) != nil else { return }  // the Service is gone
            try client.update(payload.path) { object in
                conflict = nil  // a 409 re-runs this on a fresh read: judge that read alone
                let marked = KubeOwnership.annotation(object, KubeOwnership.hijackedBy) == context.runID
                let current = object.value(at: "spec.selector")?.stringMap ?? [:]
                guard marked else { return nil }  // never injected, or already restored
                var changes: [String: JSONValue] = [
                    "metadata": .object(SweepMark.metadata(KubeOwnership.hijackedBy, runID: context.runID, mark: nil))
                ]
                if current == payload.injected {
                    changes["spec"] = ["selector": patch(from: current, to: payload.original)]
                } else if current != payload.original {
                    // Someone (a GitOps sync, kubectl apply) rewrote the selector; keys that
                    // only Ebb put there, still with Ebb's value, go: they would keep the
                    // Service matching nothing. Everything else is theirs and stays.
                    let ebbsOwn = payload.injected.filter { key, value in
                        current[key] == value && payload.original[key] != value
                    }
                    if !ebbsOwn.isEmpty {
                        changes["spec"] = ["selector": .object(ebbsOwn.mapValues { _ in JSONValue.null })]
                    }
                    conflict = KubeConflict(
                        description:
                            "service \(payload.namespace)/\(payload.name): selector is \(LabelSelector(equalTo: current)), not the \(LabelSelector(equalTo: payload.injected)) Ebb set: someone else changed it meanwhile; Ebb left theirs (it would have restored \(LabelSelector(equalTo: payload.original)))"
                    )
                }
                return .object(changes)
            }
        }
        if let conflict { throw conflict }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        try KubeScope.withClient(payload.source) { client in
            guard let object = try client.find(payload.path) else { return }
            let current = object.value(at: "spec.selector")?.stringMap ?? [:]
            guard current == payload.original else {
                throw VerificationFailure(
                    "service \(payload.namespace)/\(payload.name): selector is \(LabelSelector(equalTo: current)), not the original \(LabelSelector(equalTo: payload.original)): someone else changed it during the fault; Ebb left theirs"
                )
            }
            if KubeOwnership.annotation(object, KubeOwnership.hijackedBy) == context.runID {
                throw VerificationFailure(
                    "service \(payload.namespace)/\(payload.name) still carries \(KubeOwnership.hijackedBy)=\(context.runID)"
                )
            }
        }
    }
}
