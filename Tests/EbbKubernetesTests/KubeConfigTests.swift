import EbbCore
import Foundation
import Testing

@testable import EbbKubernetes

#if canImport(Glibc)
import Glibc
#endif

/// A temporary folder for one kubeconfig and the files it names; removed at the end.
final class ConfigFolder {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ebb-kubeconfig-\(UUID().uuidString.prefix(8))")

    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }

    @discardableResult
    func write(_ name: String, _ text: String, executable: Bool = false) throws -> String {
        let path = url.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        if executable { chmod(path, 0o755) }
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

@Suite struct KubeConfigTests {
    static func kubeconfig(users: String, clusterExtra: String = "", current: String = "dev") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: \(current)
        clusters:
        - name: c1
          cluster:
            server: https://10.0.0.1:6443
        \(clusterExtra)
        - name: c2
          cluster:
            server: http://127.0.0.1:8001
        contexts:
        - name: dev
          context: {cluster: c1, user: u1, namespace: shop}
        - name: other
          context: {cluster: c2, user: u2}
        users:
        \(users)
        """
    }

    @Test func tokenUserOfTheCurrentContext() throws {
        let folder = try ConfigFolder()
        let path = try folder.write(
            "config", Self.kubeconfig(users: "- name: u1\n  user: {token: abc123}\n- name: u2\n  user: {token: other}"))
        let config = try KubeConfigFile(path: path).config(context: nil)
        #expect(config.context == "dev")
        #expect(config.server.absoluteString == "https://10.0.0.1:6443")
        #expect(config.namespace == "shop")
        guard case .token(let token) = config.credentials else { Issue.record("no token"); return }
        #expect(token == "abc123")
        #expect(config.skipsTLSVerification == false)
        #expect(config.certificateAuthority == nil)
    }

    @Test func namedContextPicksItsClusterAndUser() throws {
        let folder = try ConfigFolder()
        let path = try folder.write(
            "config", Self.kubeconfig(users: "- name: u1\n  user: {token: abc}\n- name: u2\n  user: {token: second}"))
        let config = try ClusterSource(kubeconfig: path, context: "other").load()
        #expect(config.context == "other")
        #expect(config.server.absoluteString == "http://127.0.0.1:8001")
        #expect(config.namespace == nil)
        guard case .token("second") = config.credentials else {
            Issue.record("wrong credentials \(config.credentials)"); return
        }
    }

    @Test func unknownContextNamesTheFileAndTheContextsThereAre() throws {
        let folder = try ConfigFolder()
        let path = try folder.write("config", Self.kubeconfig(users: "- name: u1\n  user: {token: a}"))
        let error = #expect(throws: KubeConfigError.self) { try KubeConfigFile(path: path).config(context: "prod") }
        #expect(error?.description.contains("no context 'prod'") == true)
        #expect(error?.description.contains("dev, other") == true)
        #expect(error?.description.contains(path) == true)
    }

    @Test func clientCertificateAndKeyAsData() throws {
        let folder = try ConfigFolder()
        let users =
            "- name: u1\n  user:\n    client-certificate-data: \(base64(TestPEM.certificate))\n    client-key-data: \(base64(TestPEM.key))"
        let path = try folder.write("config", Self.kubeconfig(users: users))
        let config = try KubeConfigFile(path: path).config(context: "dev")
        guard case .clientCertificate(let certificate, let key) = config.credentials else {
            Issue.record("no client certificate"); return
        }
        #expect(certificate == Array(TestPEM.certificate.utf8))
        #expect(key == Array(TestPEM.key.utf8))
        // The material is usable TLS material: the client accepts it.
        let client = try KubeClient(config: config)
        client.syncShutdown()
    }

    @Test func clientCertificateKeyAndCAFromFilesRelativeToTheKubeconfig() throws {
        let folder = try ConfigFolder()
        try folder.write("client.crt", TestPEM.certificate)
        try folder.write("client.key", TestPEM.key)
        try folder.write("ca.crt", TestPEM.certificate)
        let users = "- name: u1\n  user:\n    client-certificate: client.crt\n    client-key: client.key"
        let path = try folder.write(
            "config",
            Self.kubeconfig(users: users).replacingOccurrences(
                of: "server: https://10.0.0.1:6443",
                with: "server: https://10.0.0.1:6443\n    certificate-authority: ca.crt"))
        let config = try KubeConfigFile(path: path).config(context: nil)
        guard case .clientCertificate(let certificate, _) = config.credentials else {
            Issue.record("no client certificate"); return
        }
        #expect(certificate == Array(TestPEM.certificate.utf8))
        #expect(config.certificateAuthority == Array(TestPEM.certificate.utf8))
        let client = try KubeClient(config: config)
        client.syncShutdown()
    }

    @Test func caDataAndInsecureSkipTLSVerify() throws {
        let folder = try ConfigFolder()
        let text = Self.kubeconfig(users: "- name: u1\n  user: {token: t}").replacingOccurrences(
            of: "server: https://10.0.0.1:6443",
            with:
                "server: https://10.0.0.1:6443\n    certificate-authority-data: \(base64(TestPEM.certificate))\n    insecure-skip-tls-verify: true"
        )
        let config = try KubeConfigFile(path: try folder.write("config", text)).config(context: nil)
        #expect(config.certificateAuthority == Array(TestPEM.certificate.utf8))
        #expect(config.skipsTLSVerification)
    }

    @Test func unusableTLSMaterialIsRefusedNamingTheContext() throws {
        let config = KubeConfig(
            context: "broken", server: URL(string: "https://10.0.0.1")!, certificateAuthority: Array("not a pem".utf8))
        let error = #expect(throws: KubeConfigError.self) { try KubeClient(config: config) }
        #expect(error?.description.contains("context broken") == true)
    }

    @Test func certificateWithoutKeyIsRefused() throws {
        let folder = try ConfigFolder()
        let path = try folder.write(
            "config",
            Self.kubeconfig(users: "- name: u1\n  user:\n    client-certificate-data: \(base64(TestPEM.certificate))"))
        #expect(throws: KubeConfigError.self) { try KubeConfigFile(path: path).config(context: nil) }
    }

    @Test func tokenFileIsReadAndTrimmed() throws {
        let folder = try ConfigFolder()
        try folder.write("token", "from-file\n")
        let path = try folder.write("config", Self.kubeconfig(users: "- name: u1\n  user: {tokenFile: token}"))
        guard case .token("from-file") = try KubeConfigFile(path: path).config(context: nil).credentials else {
            Issue.record("token file not used"); return
        }
    }

    @Test func execPluginRunsWithItsArgumentsAndEnvironment() throws {
        let folder = try ConfigFolder()
        // The plugin proves it got its argument, its env and the exec info before printing a token.
        try folder.write(
            "plugin.sh",
            """
            #!/bin/sh
            echo "this goes to stderr" >&2
            case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) exit 3 ;; esac
            printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$1" "$PLUGIN_REGION"
            """, executable: true)
        let users = """
            - name: u1
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ./plugin.sh
                  args: [eks]
                  env:
                  - {name: PLUGIN_REGION, value: eu-west-1}
            """
        let path = try folder.write("config", Self.kubeconfig(users: users))
        guard case .token(let token) = try KubeConfigFile(path: path).config(context: nil).credentials else {
            Issue.record("no token from the plugin"); return
        }
        #expect(token == "eks-eu-west-1")
    }

    @Test func execPluginCredentialsAreReusedUntilTheyExpire() throws {
        let folder = try ConfigFolder()
        let count = folder.url.appendingPathComponent("runs").path
        // Each run appends a line; the token says which run made it.
        try folder.write(
            "plugin.sh",
            """
            #!/bin/sh
            echo run >> '\(count)'
            printf '{"kind":"ExecCredential","status":{"token":"run-%s","expirationTimestamp":"%s"}}' "$(wc -l < '\(count)' | tr -d ' ')" "$1"
            """, executable: true)
        func token(expiring: String) throws -> String? {
            let users = "- name: u1\n  user:\n    exec:\n      command: ./plugin.sh\n      args: [\"\(expiring)\"]"
            let path = try folder.write("config-\(expiring.prefix(4))", Self.kubeconfig(users: users))
            guard case .token(let token) = try KubeConfigFile(path: path).config(context: nil).credentials else {
                return nil
            }
            return token
        }
        #expect(try token(expiring: "2999-01-01T00:00:00Z") == "run-1")
        #expect(try token(expiring: "2999-01-01T00:00:00Z") == "run-1", "a valid credential is not fetched again")
        #expect(try token(expiring: "2000-01-01T00:00:00Z") == "run-2")
        #expect(try token(expiring: "2000-01-01T00:00:00Z") == "run-3", "an expired credential is fetched again")
    }

    @Test func execPluginThatFailsGivesItsErrorAndTheContext() throws {
        let folder = try ConfigFolder()
        try folder.write("plugin.sh", "#!/bin/sh\necho 'token expired, log in again' >&2\nexit 1\n", executable: true)
        let users = "- name: u1\n  user:\n    exec:\n      command: ./plugin.sh"
        let path = try folder.write("config", Self.kubeconfig(users: users))
        let error = #expect(throws: KubeConfigError.self) { try KubeConfigFile(path: path).config(context: nil) }
        #expect(error?.description.contains("context dev") == true)
        #expect(error?.description.contains("token expired, log in again") == true)
    }

    @Test func inClusterConfigFromEnvironmentAndMountedFiles() throws {
        let folder = try ConfigFolder()
        try folder.write("token", "sa-token\n")
        try folder.write("ca.crt", TestPEM.certificate)
        try folder.write("namespace", "chaos\n")
        let environment = [
            "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
            "EBB_SERVICEACCOUNT_DIR": folder.url.path,
        ]
        #expect(InClusterConfig.isAvailable(environment: environment))
        // With no kubeconfig anywhere, a source falls back to the service account.
        let config = try ClusterSource().load(
            environment: environment.merging(["HOME": folder.url.appendingPathComponent("nohome").path]) { a, _ in a })
        #expect(config.context == "in-cluster")
        #expect(config.server.absoluteString == "https://10.96.0.1:443")
        #expect(config.namespace == "chaos")
        #expect(config.certificateAuthority == Array(TestPEM.certificate.utf8))
        guard case .token("sa-token") = config.credentials else { Issue.record("no service account token"); return }
    }

    @Test func kubeconfigVariableIsPinnedIntoTheRecordedSource() throws {
        let folder = try ConfigFolder()
        let path = try folder.write("config", Self.kubeconfig(users: "- name: u1\n  user: {token: a}"))
        let pinned = ClusterSource(context: "dev").pinned(environment: ["KUBECONFIG": "\(path):/elsewhere"])
        #expect(
            pinned.kubeconfig == path && pinned.context == "dev" && pinned.server == "https://10.0.0.1:6443",
            "\(pinned)")
    }

    @Test func aPinnedSourceKeepsItsContextAndRefusesAnotherServer() throws {
        let folder = try ConfigFolder()
        let users = "- name: u1\n  user: {token: a}\n- name: u2\n  user: {token: b}"
        let path = try folder.write("config", Self.kubeconfig(users: users))
        // Pinned while `dev` is current: switching the current context later changes nothing.
        let pinned = ClusterSource(kubeconfig: path).pinned()
        #expect(pinned.context == "dev")
        _ = try folder.write("config", Self.kubeconfig(users: users, current: "other"))
        #expect(try pinned.load().server.absoluteString == "https://10.0.0.1:6443")
        // The same context pointed at another server is refused, not acted on.
        _ = try folder.write(
            "config",
            Self.kubeconfig(users: users).replacingOccurrences(
                of: "https://10.0.0.1:6443", with: "https://10.9.9.9:6443"))
        #expect {
            _ = try pinned.load()
        } throws: { error in
            "\(error)".contains("refusing to act on another cluster")
        }
    }
}

@Suite struct LabelSelectorTests {
    @Test func parsesAndMatchesEveryForm() throws {
        let selector = try #require(LabelSelector("app=web, tier!=cache,canary,!legacy,env==prod"))
        #expect(selector.description == "app=web,tier!=cache,canary,!legacy,env=prod")
        #expect(selector.matches(["app": "web", "canary": "1", "env": "prod"]))
        #expect(!selector.matches(["app": "web", "canary": "1", "env": "prod", "legacy": "x"]))
        #expect(!selector.matches(["app": "web", "canary": "1", "env": "prod", "tier": "cache"]))
        #expect(!selector.matches(["app": "db", "canary": "1", "env": "prod"]))
    }

    @Test func refusesWhatIsNoSelector() {
        #expect(LabelSelector("app=we b") == nil)
        #expect(LabelSelector("=web") == nil)
        #expect(LabelSelector("example.com/app=web") != nil)
    }

    @Test func networkPolicyFormUsesMatchLabelsAndExpressions() throws {
        let selector = try #require(LabelSelector("app=web,tier!=cache,!legacy"))
        let form = JSONValue.object(selector.podSelector)
        #expect(form.value(at: "matchLabels.app") == "web")
        #expect(form["matchExpressions"]?.arrayValue?.count == 2)
    }

    @Test func requestBodiesWriteWholeNumbersAsIntegers() {
        #expect(JSONText.encode(["spec": ["replicas": 3]]) == #"{"spec":{"replicas":3}}"#)
        #expect(JSONText.encode(["a": .null, "b": "x\"y\n"]) == #"{"a":null,"b":"x\"y\n"}"#)
    }
}
