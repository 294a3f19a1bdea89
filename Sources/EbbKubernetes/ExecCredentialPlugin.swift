import EbbCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A kubeconfig `exec` credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`,
/// `kubelogin`): a program that prints an `ExecCredential` with a token or a client certificate.
struct ExecCredentialPlugin: Decodable, Hashable {
    struct Variable: Decodable, Hashable {
        var name: String
        var value: String
    }

    var command: String
    var args: [String]?
    var env: [Variable]?
    var apiVersion: String?

    /// An `ExecCredential` as the plugin prints it.
    struct Output: Decodable {
        struct Status: Decodable {
            var token: String?
            var clientCertificateData: String?
            var clientKeyData: String?
            var expirationTimestamp: String?
        }
        var status: Status?
    }

    static let timeout: Duration = .seconds(60)

    /// Credentials already obtained in this process, until they expire: every fault's plan,
    /// inject, undo and verify makes a client, and a plugin such as `aws eks get-token` takes a second.
    private static let cache = CredentialCache()

    func run(directory: String, place: String) throws -> KubeConfig.Credentials {
        if let cached = Self.cache.credentials(for: self, directory: directory) { return cached }
        let (credentials, expiry) = try execute(directory: directory, place: place)
        Self.cache.store(credentials, for: self, directory: directory, until: expiry)
        return credentials
    }

    private func execute(directory: String, place: String) throws -> (KubeConfig.Credentials, Date) {
        // kubectl resolves a relative command containing a slash against the kubeconfig's folder.
        let program = command.contains("/") && !command.hasPrefix("/") ? "\(directory)/\(command)" : command
        let version = apiVersion ?? "client.authentication.k8s.io/v1"
        var environment = Dictionary((env ?? []).map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        environment["KUBERNETES_EXEC_INFO"] =
            #"{"apiVersion":"\#(version)","kind":"ExecCredential","spec":{"interactive":false}}"#
        let folder = FileManager.default.temporaryDirectory.appending(path: "ebb-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appending(path: "stdout").path
        let errors = folder.appending(path: "stderr").path
        let pid: Int32
        do {
            pid = try ChildProcess.spawn(
                [program] + (args ?? []), environment: environment, outputPath: output, errorPath: errors)
        } catch {
            throw KubeConfigError("\(place): exec credential plugin: \(error)")
        }
        guard let status = ChildProcess.wait(pid, timeout: Self.timeout) else {
            kill(-pid, SIGKILL)
            _ = ChildProcess.wait(pid, timeout: nil)
            throw KubeConfigError("\(place): exec credential plugin \(command) did not finish within 60s")
        }
        let stderr = String(decoding: FileManager.default.contents(atPath: errors) ?? Data(), as: UTF8.self)
        guard status == 0 else {
            throw KubeConfigError(
                "\(place): exec credential plugin \(command) exited with \(status): \(stderr.suffix(500))")
        }
        let data = FileManager.default.contents(atPath: output) ?? Data()
        guard let credential = try? JSONDecoder().decode(Output.self, from: data), let result = credential.status else {
            throw KubeConfigError(
                "\(place): exec credential plugin \(command) did not print an ExecCredential with a status")
        }
        // Without an expiry, kubectl would ask again on the next 401; Ebb asks again after five minutes.
        let expiry =
            result.expirationTimestamp.flatMap { try? Date($0, strategy: .iso8601) }.map { $0.addingTimeInterval(-30) }
            ?? Date().addingTimeInterval(300)
        if let token = result.token { return (.token(token), expiry) }
        if let certificate = result.clientCertificateData, let key = result.clientKeyData {
            return (.clientCertificate(certificate: Array(certificate.utf8), key: Array(key.utf8)), expiry)
        }
        throw KubeConfigError(
            "\(place): exec credential plugin \(command) gave neither a token nor a client certificate and key")
    }
}

/// Exec plugin credentials by plugin and kubeconfig folder, each with its expiry.
final class CredentialCache: Sendable {
    private struct Key: Hashable {
        var plugin: ExecCredentialPlugin
        var directory: String
    }

    private let entries = Mutex<[Key: (credentials: KubeConfig.Credentials, expiry: Date)]>([:])

    func credentials(for plugin: ExecCredentialPlugin, directory: String) -> KubeConfig.Credentials? {
        entries.withLock { entries in
            guard let entry = entries[Key(plugin: plugin, directory: directory)], entry.expiry > Date() else {
                return nil
            }
            return entry.credentials
        }
    }

    func store(
        _ credentials: KubeConfig.Credentials, for plugin: ExecCredentialPlugin, directory: String, until expiry: Date
    ) {
        entries.withLock { $0[Key(plugin: plugin, directory: directory)] = (credentials, expiry) }
    }
}
