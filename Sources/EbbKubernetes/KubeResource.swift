/// The resource kinds Ebb reads and changes, with their API paths.
public enum KubeResource: String, Sendable, CaseIterable, Codable {
    case pods, services, nodes, deployments, statefulsets, replicasets, daemonsets, networkpolicies, namespaces

    /// `/api/v1`, `/apis/apps/v1`, ...
    public var groupVersion: String {
        switch self {
        case .pods, .services, .nodes, .namespaces: return "/api/v1"
        case .deployments, .statefulsets, .replicasets, .daemonsets: return "/apis/apps/v1"
        case .networkpolicies: return "/apis/networking.k8s.io/v1"
        }
    }

    public var isNamespaced: Bool { self != .nodes && self != .namespaces }

    /// The collection path, in `namespace` for namespaced kinds.
    public func collection(in namespace: String?) -> String {
        if isNamespaced, let namespace { return "\(groupVersion)/namespaces/\(namespace)/\(rawValue)" }
        return "\(groupVersion)/\(rawValue)"
    }

    /// The path of one object.
    public func path(_ name: String, in namespace: String?) -> String {
        "\(collection(in: namespace))/\(name)"
    }
}
