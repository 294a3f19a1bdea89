import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A kubeconfig `exec` credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`,
/// `kubelogin`): a program that prints an `ExecCredential` with a token or a client certificate.
struct ExecCredentialPlugin: Decodable {
    struct Variable: Decodable {
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
        }
        var status: Status?
    }

    static let timeout: Duration = .seconds(60)

    func run(directory: String, place: String) throws -> KubeConfig.Credentials {
        // kubectl resolves a relative command containing a slash against the kubeconfig's folder.
        let program = command.contains("/") && !command.hasPrefix("/") ? "\(directory)/\(command)" : command
        let version = apiVersion ?? "client.authentication.k8s.io/v1"
        var environment = Dictionary((env ?? []).map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        environment["KUBERNETES_EXEC_INFO"] = #"{"apiVersion":"\#(version)","kind":"ExecCredential","spec":{"interactive":false}}"#
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ebb-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("stdout").path
        let errors = folder.appendingPathComponent("stderr").path
        let pid: Int32
        do {
            pid = try ChildProcess.spawn([program] + (args ?? []), environment: environment, outputPath: output, errorPath: errors)
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
            throw KubeConfigError("\(place): exec credential plugin \(command) exited with \(status): \(stderr.suffix(500))")
        }
        let data = FileManager.default.contents(atPath: output) ?? Data()
        guard let credential = try? JSONDecoder().decode(Output.self, from: data), let result = credential.status else {
            throw KubeConfigError("\(place): exec credential plugin \(command) did not print an ExecCredential with a status")
        }
        if let token = result.token { return .token(token) }
        if let certificate = result.clientCertificateData, let key = result.clientKeyData {
            return .clientCertificate(certificate: Array(certificate.utf8), key: Array(key.utf8))
        }
        throw KubeConfigError("\(place): exec credential plugin \(command) gave neither a token nor a client certificate and key")
    }
}
