import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP clients a run's checks share: one that verifies TLS and one that does not, made
/// on first use and shut down once at the end of the run.
final class HTTPClients: Sendable {
    /// Samples overlap when a target is slow, so a host may need many connections at once.
    static let connectionsPerHost = 64

    /// By whether they verify TLS.
    private let clients = Mutex<[Bool: HTTPClient]>([:])

    func client(verifyingTLS: Bool) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[verifyingTLS] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if !verifyingTLS { tls.certificateVerification = .none }
            var pool = HTTPClient.Configuration.ConnectionPool()
            pool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.connectionsPerHost
            pool.retryConnectionEstablishment = false
            let configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)),
                connectionPool: pool)
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            clients[verifyingTLS] = client
            return client
        }
    }

    func shutdown() async {
        for client in takeAll() { try? await client.shutdown() }
    }

    /// Clients are made before the first check (see ``SuiteChecks/prepare()``), and a run can
    /// end before it watches anything (no scenario selected, no journal); AsyncHTTPClient
    /// stops a debug build whose client is freed unshut. Released without ``shutdown()``,
    /// they are shut down here, without waiting.
    deinit {
        for client in takeAll() { client.shutdown { _ in } }
    }

    private func takeAll() -> [HTTPClient] {
        clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(
            Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
