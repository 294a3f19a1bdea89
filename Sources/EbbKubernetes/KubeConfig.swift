import EbbCore
import Foundation

/// How to reach one Kubernetes API server: what a kubeconfig context or the in-cluster service
/// account resolves to. Secrets live only in memory; the journal records a ``ClusterSource``.
public struct KubeConfig: Sendable {
    /// How requests prove who they are.
    public enum Credentials: Sendable {
        case none
        case token(String)
        /// A client certificate chain and its private key, both PEM.
        case clientCertificate(certificate: [UInt8], key: [UInt8])
    }

    /// The context's name (`in-cluster` for the service account); every error names it.
    public var context: String
    /// The API server, e.g. `https://10.0.0.1:6443`.
    public var server: URL
    /// The context's default namespace.
    public var namespace: String?
    /// PEM certificates that sign the server's certificate; nil: the system's trust store.
    public var certificateAuthority: [UInt8]?
    /// `insecure-skip-tls-verify`: the server's certificate is not checked.
    public var skipsTLSVerification: Bool
    public var credentials: Credentials

    public init(
        context: String, server: URL, namespace: String? = nil, certificateAuthority: [UInt8]? = nil,
        skipsTLSVerification: Bool = false, credentials: Credentials = .none
    ) {
        self.context = context
        self.server = server
        self.namespace = namespace
        self.certificateAuthority = certificateAuthority
        self.skipsTLSVerification = skipsTLSVerification
        self.credentials = credentials
    }
}

/// Where a cluster's configuration comes from, without any secret: stored in undo records, so that
/// `ebb rollback execute` and the guardian reach the same cluster from the record alone.
public struct ClusterSource: Codable, Sendable, Hashable, CustomStringConvertible {
    /// A kubeconfig file; nil: `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account.
    public var kubeconfig: String?
    /// A context of the kubeconfig; nil: its `current-context`.
    public var context: String?
    /// The API server the source resolved to when it was pinned; an undo refuses any other.
    public var server: String?

    public init(kubeconfig: String? = nil, context: String? = nil) {
        self.kubeconfig = kubeconfig
        self.context = context
    }

    /// Resolves the source in this process's environment and pins all of it: the kubeconfig's
    /// absolute path, the context (not "whatever is current later") and the server. So an undo
    /// in another process (a guardian, a later `ebb rollback execute`, after someone switched
    /// contexts or changed directory) acts on the very cluster the fault was made on.
    public func pinned(environment: [String: String] = ProcessInfo.processInfo.environment) -> ClusterSource {
        var source = self
        if source.kubeconfig == nil, let path = KubeConfigFile.defaultPath(environment: environment),
            FileManager.default.fileExists(atPath: path)
        {
            source.kubeconfig = path
        }
        if let path = source.kubeconfig, !path.hasPrefix("/") {
            source.kubeconfig = URL(fileURLWithPath: path).standardizedFileURL.path
        }
        if let config = try? source.load(environment: environment) {
            if source.kubeconfig != nil { source.context = config.context }
            source.server = config.server.absoluteString
        }
        return source
    }

    /// Reads the configuration: the kubeconfig named or found, else the in-cluster service account.
    /// Refuses when a pinned source now leads to another server than the one it was pinned to.
    public func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConfig {
        let config = try unverifiedLoad(environment: environment)
        if let server, config.server.absoluteString != server {
            throw KubeConfigError(
                "\(description) now leads to \(config.server.absoluteString), but it was \(server) when the fault was made; refusing to act on another cluster (restore that context, or pass the kubeconfig that reaches \(server))"
            )
        }
        return config
    }

    private func unverifiedLoad(environment: [String: String]) throws -> KubeConfig {
        if let path = kubeconfig ?? KubeConfigFile.defaultPath(environment: environment),
            kubeconfig != nil || FileManager.default.fileExists(atPath: path)
        {
            return try KubeConfigFile(path: path).config(context: context)
        }
        if InClusterConfig.isAvailable(environment: environment) {
            return try InClusterConfig.load(environment: environment)
        }
        throw KubeConfigError(
            "no kubeconfig (set KUBECONFIG, or create ~/.kube/config) and not running in a cluster (KUBERNETES_SERVICE_HOST is unset)"
        )
    }

    public var description: String {
        "\(kubeconfig ?? "default kubeconfig")\(context.map { " context \($0)" } ?? "")"
    }
}

/// A kubeconfig that cannot be used; the message names the file, the context and the field.
public struct KubeConfigError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
