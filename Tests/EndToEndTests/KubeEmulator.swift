import EbbCore
import EbbKubernetes
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// kmock's KubernetesEmulator, extended by ci/kube-emulator/kube_emulator.py (selectors, tokens,
/// versions, a replica controller), started on 127.0.0.1 for one test and killed by pid after.
/// Its Python comes from the virtualenv ci/test.sh makes (`$EBB_KUBE_PYTHON`, else `.ci-venv`).
final class KubeEmulator {
    static let token = "ebb-test-token"
    static let forbiddenToken = "ebb-forbidden-token"
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    }
    static var python: String {
        ProcessInfo.processInfo.environment["EBB_KUBE_PYTHON"]
            ?? repository.appendingPathComponent(".ci-venv/bin/python").path
    }

    struct NotStarted: Error, CustomStringConvertible {
        var description: String
    }

    let service: LocalService
    let port: Int
    let directory: URL
    var url: String { "http://127.0.0.1:\(port)" }

    /// A namespace `shop` with Deployment `web` (3 replicas, pods Ready after `readyDelay`),
    /// Service `web`, and nodes `node-1` (with a taint of someone else's) and `node-2`.
    static let shop: [JSONValue] = [
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]],
        [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": "web", "namespace": "shop", "labels": ["app": "web"]],
            "spec": [
                "replicas": 3, "selector": ["matchLabels": ["app": "web"]],
                "template": ["metadata": ["labels": ["app": "web"]]],
            ],
        ],
        [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": "db", "namespace": "shop", "labels": ["app": "db", "ebb.dev/protected": "true"]],
            "spec": [
                "replicas": 1, "selector": ["matchLabels": ["app": "db"]],
                "template": ["metadata": ["labels": ["app": "db", "ebb.dev/protected": "true"]]],
            ],
        ],
        [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "web", "namespace": "shop"],
            "spec": ["selector": ["app": "web", "tier": "front"]],
        ],
        [
            "apiVersion": "v1", "kind": "Node", "metadata": ["name": "node-1", "labels": ["pool": "a"]],
            "spec": ["taints": [["key": "dedicated", "value": "db", "effect": "NoSchedule"]]],
        ],
        ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "node-2", "labels": ["pool": "b"]], "spec": [:]],
    ]

    init(in directory: URL, seed: [JSONValue] = KubeEmulator.shop, readyDelay: Double = 1.0) throws {
        self.directory = directory
        let seedPath = directory.appendingPathComponent("kube-seed.json")
        try JSONEncoder().encode(JSONValue.array(seed)).write(to: seedPath)
        let portFile = directory.appendingPathComponent("kube-port").path
        let script = Self.repository.appendingPathComponent("ci/kube-emulator/kube_emulator.py").path
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw NotStarted(
                description:
                    "no Python with kmock at \(Self.python): run ci/test.sh (it makes .ci-venv) or set EBB_KUBE_PYTHON")
        }
        service = try LocalService(
            [
                Self.python, script, "--port-file", portFile, "--token", Self.token,
                "--forbidden-token", Self.forbiddenToken, "--seed", seedPath.path, "--ready-delay", String(readyDelay),
            ],
            in: directory, name: "kube-emulator")
        let clock = ContinuousClock()
        let end = clock.now + .seconds(60)
        var found: Int?
        while clock.now < end, found == nil {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if found == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else {
            throw NotStarted(description: "the emulator did not start within 60s:\n\(service.output)")
        }
        port = found
    }

    /// A kubeconfig pointing at the emulator with `token`; returns its path.
    @discardableResult
    func kubeconfig(token: String = KubeEmulator.token, name: String = "kubeconfig") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try """
        apiVersion: v1
        kind: Config
        current-context: emulator
        clusters:
        - name: emulator
          cluster: {server: "\(url)"}
        contexts:
        - name: emulator
          context: {cluster: emulator, user: tester, namespace: shop}
        users:
        - name: tester
          user: {token: "\(token)"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A client for checking the emulator's state from the test.
    func client() throws -> KubeClient {
        try KubeClient(
            config: KubeConfig(
                context: "test", server: URL(string: url)!, namespace: "shop", credentials: .token(Self.token)))
    }

    /// The object at `path`, or nil (gone, or no answer).
    func object(_ path: String) -> JSONValue? {
        guard let client = try? client() else { return nil }
        defer { client.syncShutdown() }
        return try? client.find(path)
    }

    func list(_ path: String, selector: String? = nil) -> [JSONValue] {
        guard let client = try? client() else { return [] }
        defer { client.syncShutdown() }
        return (try? client.list(path, labelSelector: selector)) ?? []
    }

    func patch(_ path: String, _ patch: JSONValue) throws {
        let client = try client()
        defer { client.syncShutdown() }
        try client.mergePatch(path, patch)
    }

    /// Names of pods `app=<app>` in shop that are Ready.
    func readyPods(_ app: String = "web") -> [String] {
        list(KubeResource.pods.collection(in: "shop"), selector: "app=\(app)").filter(PodReadiness.isReady).compactMap {
            $0.value(at: "metadata.name")?.stringValue
        }
    }

    var replicas: Int? {
        object(KubeResource.deployments.path("web", in: "shop"))?.value(at: "spec.replicas")?.numberValue.map(Int.init)
    }
    var serviceSelector: [String: String] {
        object(KubeResource.services.path("web", in: "shop"))?.value(at: "spec.selector")?.stringMap ?? [:]
    }
    var policies: [JSONValue] { list(KubeResource.networkpolicies.collection(in: "shop")) }
    func node(_ name: String) -> JSONValue? { object(KubeResource.nodes.path(name, in: nil)) }
}
