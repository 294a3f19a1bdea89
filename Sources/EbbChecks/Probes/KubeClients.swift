import EbbKubernetes
import Foundation
import Synchronization

/// The Kubernetes clients a run's k8s probes share, one per cluster source, made on first use
/// (an exec credential plugin runs then) and shut down once at the end of the run.
final class KubeClients: Sendable {
    private let clients = Mutex<[ClusterSource: KubeClient]>([:])

    func client(for source: ClusterSource) throws -> KubeClient {
        // Made under the lock: two probes of one cluster must not both run its credential plugin.
        try clients.withLock { clients in
            if let client = clients[source] { return client }
            let client = try KubeClient(config: try source.load(), timeout: .seconds(30))
            clients[source] = client
            return client
        }
    }

    func shutdown() async {
        let all = clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in all { await client.shutdown() }
    }
}
