import Foundation

/// The service account a pod runs as: `KUBERNETES_SERVICE_HOST`/`_PORT` plus the token, CA and
/// namespace files Kubernetes mounts into every pod.
public enum InClusterConfig {
    /// Where Kubernetes mounts the service account; `EBB_SERVICEACCOUNT_DIR` overrides it (tests).
    static func directory(_ environment: [String: String]) -> String {
        environment["EBB_SERVICEACCOUNT_DIR"] ?? "/var/run/secrets/kubernetes.io/serviceaccount"
    }

    public static func isAvailable(environment: [String: String]) -> Bool {
        environment["KUBERNETES_SERVICE_HOST"] != nil
            && FileManager.default.fileExists(atPath: "\(directory(environment))/token")
    }

    public static func load(environment: [String: String]) throws -> KubeConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"]
        else {
            throw KubeConfigError("in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT")
        }
        let folder = directory(environment)
        guard let token = FileManager.default.contents(atPath: "\(folder)/token") else {
            throw KubeConfigError("in-cluster config: cannot read \(folder)/token")
        }
        // An IPv6 service address needs brackets in a URL.
        let hostPart = host.contains(":") ? "[\(host)]" : host
        guard let server = URL(string: "https://\(hostPart):\(port)") else {
            throw KubeConfigError("in-cluster config: '\(host):\(port)' is not a server address")
        }
        let namespace = FileManager.default.contents(atPath: "\(folder)/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        return KubeConfig(
            context: "in-cluster", server: server, namespace: namespace,
            certificateAuthority: FileManager.default.contents(atPath: "\(folder)/ca.crt").map(Array.init),
            credentials: .token(String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
