import Foundation
import Yams

/// A kubeconfig file (`clusters`, `users`, `contexts`, `current-context`), read with Yams.
/// Relative file paths in it are relative to the file, as kubectl reads them.
public struct KubeConfigFile {
    struct Document: Decodable {
        var clusters: [Named<Cluster>]?
        var users: [Named<User>]?
        var contexts: [Named<Context>]?
        var currentContext: String?

        enum CodingKeys: String, CodingKey {
            case clusters, users, contexts
            case currentContext = "current-context"
        }
    }

    struct Named<Item: Decodable>: Decodable {
        var name: String
        var value: Item?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: DynamicKey.self)
            name = try container.decode(String.self, forKey: DynamicKey("name"))
            // `cluster`, `user` or `context`, whichever this list holds.
            value = try container.allKeys.first { $0.stringValue != "name" }.map {
                try container.decode(Item.self, forKey: $0)
            }
        }
    }

    struct DynamicKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct Cluster: Decodable {
        var server: String?
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
        }
    }

    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?
        var exec: ExecCredentialPlugin?

        enum CodingKeys: String, CodingKey {
            case token, tokenFile, exec
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
        }
    }

    struct Context: Decodable {
        var cluster: String
        var user: String?
        var namespace: String?
    }

    public let path: String
    let document: Document

    public init(path: String) throws {
        self.path = path
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KubeConfigError("cannot read kubeconfig \(path): \(error.localizedDescription)")
        }
        do {
            document = try YAMLDecoder().decode(Document.self, from: text)
        } catch {
            throw KubeConfigError("kubeconfig \(path) is not a valid kubeconfig: \(error)")
        }
    }

    /// `$KUBECONFIG` (its first file when it lists several), else `~/.kube/config`.
    public static func defaultPath(environment: [String: String]) -> String? {
        if let list = environment["KUBECONFIG"], let first = list.split(separator: ":").first { return String(first) }
        return environment["HOME"].map { "\($0)/.kube/config" }
    }

    /// The names of the file's contexts.
    public var contexts: [String] { (document.contexts ?? []).map(\.name) }

    /// The configuration of context `name`, or of `current-context` when `name` is nil.
    public func config(context name: String?) throws -> KubeConfig {
        guard let contextName = name ?? document.currentContext, !contextName.isEmpty else {
            throw KubeConfigError("kubeconfig \(path) has no current-context; name a context")
        }
        guard let context = document.contexts?.first(where: { $0.name == contextName })?.value else {
            throw KubeConfigError(
                "kubeconfig \(path) has no context '\(contextName)' (contexts: \(contexts.joined(separator: ", ")))")
        }
        let place = "kubeconfig \(path), context \(contextName)"
        guard let cluster = document.clusters?.first(where: { $0.name == context.cluster })?.value else {
            throw KubeConfigError("\(place): no cluster '\(context.cluster)'")
        }
        guard let serverText = cluster.server, let server = URL(string: serverText),
            ["http", "https"].contains(server.scheme ?? "")
        else {
            throw KubeConfigError("\(place): cluster '\(context.cluster)' has no http(s) server URL")
        }
        var config = KubeConfig(
            context: contextName, server: server, namespace: context.namespace,
            skipsTLSVerification: cluster.insecureSkipTLSVerify ?? false)
        config.certificateAuthority = try material(
            data: cluster.certificateAuthorityData, file: cluster.certificateAuthority,
            field: "certificate-authority", place)
        guard let userName = context.user else { return config }
        guard let user = document.users?.first(where: { $0.name == userName })?.value else {
            throw KubeConfigError("\(place): no user '\(userName)'")
        }
        config.credentials = try credentials(user, place)
        return config
    }

    private func credentials(_ user: User, _ place: String) throws -> KubeConfig.Credentials {
        if let token = user.token { return .token(token) }
        if let file = user.tokenFile {
            return .token(
                try String(decoding: read(file, field: "tokenFile", place), as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines))
        }
        let certificate = try material(
            data: user.clientCertificateData, file: user.clientCertificate, field: "client-certificate", place)
        let key = try material(data: user.clientKeyData, file: user.clientKey, field: "client-key", place)
        if let certificate, let key { return .clientCertificate(certificate: certificate, key: key) }
        if certificate != nil || key != nil {
            throw KubeConfigError("\(place): a client certificate needs both a certificate and a key")
        }
        if let exec = user.exec { return try exec.run(directory: directory, place: place) }
        return .none
    }

    private var directory: String { URL(fileURLWithPath: path).deletingLastPathComponent().path }

    /// Base64 `*-data`, else the named file; nil when neither is given.
    private func material(data: String?, file: String?, field: String, _ place: String) throws -> [UInt8]? {
        if let data {
            guard let decoded = Data(base64Encoded: data.filter { !$0.isWhitespace }) else {
                throw KubeConfigError("\(place): \(field)-data is not base64")
            }
            return Array(decoded)
        }
        return try file.map { try read($0, field: field, place) }
    }

    private func read(_ file: String, field: String, _ place: String) throws -> [UInt8] {
        let full = file.hasPrefix("/") ? file : "\(directory)/\(file)"
        guard let data = FileManager.default.contents(atPath: full) else {
            throw KubeConfigError("\(place): cannot read \(field) file \(full)")
        }
        return Array(data)
    }
}
