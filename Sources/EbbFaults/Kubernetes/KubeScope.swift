import EbbCore
import EbbKubernetes
import Foundation

/// What every Kubernetes fault shares: which cluster (a kubeconfig and context), which
/// namespace, and the blast-radius controls: a namespace allow-list, labels that are never
/// targeted, a ceiling on the number of targets, and what a selector that matches nothing means.
struct KubeScope: Sendable {
    /// What a selector that matches nothing does to the scenario.
    enum EmptyPolicy: String, Sendable {
        /// Fail: a chaos test that hits nothing must not pass silently.
        case fail
        /// Inject nothing and go on.
        case skip
    }

    /// Objects carrying this label are never targeted, whatever the suite says.
    static let protectedLabel = "ebb.dev/protected"

    static let connection: [ParameterSpec] = [
        ParameterSpec(
            "kubeconfig", .string,
            "kubeconfig file (default or empty: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)"),
        ParameterSpec("context", .string, "kubeconfig context (default: its current-context)"),
    ]
    static let namespaced: [ParameterSpec] =
        connection + [
            ParameterSpec("namespace", .string, "namespace (default: the context's, else 'default')"),
            ParameterSpec("allowed_namespaces", .argv, "namespaces the fault may act in; any other is refused"),
        ]
    static let blastRadius: [ParameterSpec] = [
        ParameterSpec(
            "protected_labels", .argv,
            "label selectors (key=value or key) of objects never targeted; \(protectedLabel)=true always is"),
        ParameterSpec("max_targets", .integer, "refuse to act on more objects than this (default 10)"),
        ParameterSpec("empty", .string, "when the selector matches nothing: fail (default) or skip"),
    ]

    var source: ClusterSource
    /// Nil: the context's namespace, else `default`.
    var namespace: String?
    var allowedNamespaces: [String]?
    var protected: [LabelSelector]
    var maxTargets: Int
    var empty: EmptyPolicy

    init(_ parameters: FaultParameters, suite: SuiteContext) throws {
        // An empty kubeconfig (an unset `${VAR:-}`) means the default: $KUBECONFIG, ~/.kube/config, in-cluster.
        let kubeconfig = try parameters.string("kubeconfig").flatMap { $0.isEmpty ? nil : suite.resolve($0) }
        source = ClusterSource(kubeconfig: kubeconfig, context: try parameters.string("context"))
        namespace = try parameters.string("namespace")
        allowedNamespaces = try parameters.argv("allowed_namespaces")
        var protected = [LabelSelector(equalTo: [Self.protectedLabel: "true"])]
        for (index, text) in (try parameters.argv("protected_labels") ?? []).enumerated() {
            guard let selector = LabelSelector(text) else {
                throw parameters.error(
                    "protected_labels", "item \(index + 1) '\(text)' is not a label selector (key=value or key)")
            }
            protected.append(selector)
        }
        self.protected = protected
        maxTargets = try parameters.integer("max_targets") ?? 10
        guard maxTargets >= 1 else { throw parameters.error("max_targets", "must be at least 1") }
        let emptyText = try parameters.string("empty") ?? "fail"
        guard let empty = EmptyPolicy(rawValue: emptyText) else {
            throw parameters.error("empty", "'\(emptyText)' is neither fail nor skip")
        }
        self.empty = empty
        if let namespace, let allowed = allowedNamespaces, !allowed.contains(namespace) {
            throw parameters.error(
                "namespace",
                "namespace '\(namespace)' is not in allowed_namespaces (\(allowed.joined(separator: ", ")))")
        }
    }

    /// A selector parameter, checked for Kubernetes syntax at load time.
    static func selector(_ parameters: FaultParameters, _ name: String) throws -> LabelSelector? {
        guard let text = try parameters.string(name) else { return nil }
        guard let selector = LabelSelector(text), !selector.requirements.isEmpty else {
            throw parameters.error(name, "'\(text)' is not a label selector such as app=web,tier!=cache")
        }
        return selector
    }

    /// Runs `body` with a client for this scope's cluster, closed afterwards.
    @discardableResult
    static func withClient<T>(_ source: ClusterSource, _ body: (KubeClient) throws -> T) throws -> T {
        let client = try KubeClient(config: try source.load())
        defer { client.syncShutdown() }
        return try body(client)
    }

    /// The namespace the fault acts in, checked against the allow-list.
    func resolveNamespace(_ client: KubeClient) throws -> String {
        let resolved = namespace ?? client.config.namespace ?? "default"
        if let allowed = allowedNamespaces, !allowed.contains(resolved) {
            throw FaultError(
                description:
                    "namespace '\(resolved)' (from context \(client.config.context)) is not in allowed_namespaces (\(allowed.joined(separator: ", ")))"
            )
        }
        return resolved
    }

    func isProtected(_ object: JSONValue) -> Bool {
        let labels = object.value(at: "metadata.labels")?.stringMap ?? [:]
        return protected.contains { $0.matches(labels) }
    }

    /// Applies the blast-radius controls to the objects a selector found: protected ones are
    /// dropped, more than `max_targets` is refused, none is refused unless `empty: skip`.
    /// Returns nil for "matched nothing, skip".
    func admit(_ chosen: [JSONValue], what: String) throws -> [JSONValue]? {
        if chosen.isEmpty {
            if empty == .skip { return nil }
            throw FaultError(
                description: "\(what) matched nothing (protected objects excluded); set empty: skip to allow that")
        }
        guard chosen.count <= maxTargets else {
            throw FaultError(
                description:
                    "\(what) would affect \(chosen.count) objects, more than max_targets \(maxTargets); nothing was changed"
            )
        }
        return chosen
    }
}

/// Labels and annotations that mark what a run changed, so recovery touches only its own. They
/// are set and removed together with the sweep's marks (``SweepMark/metadata(_:runID:mark:)``).
enum KubeOwnership {
    static let runLabel = "ebb.dev/run-id"
    static let scaledBy = "ebb.dev/scaled-by"
    static let cordonedBy = "ebb.dev/cordoned-by"
    static let hijackedBy = "ebb.dev/hijacked-by"
    static let taintKey = "ebb.dev/chaos"

    static func name(_ object: JSONValue) -> String { object.value(at: "metadata.name")?.stringValue ?? "?" }
    static func annotation(_ object: JSONValue, _ key: String) -> String? {
        object.value(at: "metadata.annotations")?[key]?.stringValue
    }
}

/// Someone else changed what Ebb changed before the undo ran. Ebb leaves their change in place
/// and reports the conflict as a rollback failure, so that the run says the system needs a look.
struct KubeConflict: Error, CustomStringConvertible {
    var description: String
}
