import EbbKubernetes
import Foundation

/// The Kubernetes clients a run's k8s probes share, one per cluster source, made on first use
/// (an exec credential plugin runs then) and shut down once at the end of the run.
final class KubeClients: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [ClusterSource: KubeClient] = [:]

    func client(for source: ClusterSource) throws -> KubeClient {
        try lock.withLock {
            if let client = clients[source] { return client }
            let client = try KubeClient(config: try source.load(), timeout: .seconds(30))
            clients[source] = client
            return client
        }
    }

    func shutdown() async {
        let all = lock.withLock { () -> [KubeClient] in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in all { await client.shutdown() }
    }
}
