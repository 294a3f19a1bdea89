import AsyncHTTPClient
import NIOCore

/// One HTTP request and its whole answer under one deadline, with an optional bearer token:
/// what probes, scrapes, Prometheus queries and the Pushgateway push all do.
enum HTTPExchange {
    /// What to do with an answer longer than the body limit.
    enum Oversize {
        /// Keep its start and read the rest away, so the connection can be reused.
        case keepStart
        /// Fail the exchange.
        case refuse
    }

    static func perform(
        _ request: HTTPClientRequest, client: HTTPClient, token: String?, timeout: Duration,
        bodyLimit: Int, oversize: Oversize
    ) async throws -> (status: UInt, body: ByteBuffer) {
        var request = request
        if let token { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        let prepared = request
        return try await Deadline.run(within: timeout) {
            let response = try await client.execute(prepared, timeout: TimeAmount(timeout))
            switch oversize {
            case .refuse:
                return (response.status.code, try await response.body.collect(upTo: bodyLimit))
            case .keepStart:
                // Read the body even when only the status matters: an unread body cancels the
                // request and closes the connection, and every sample would pay a new one.
                var body = ByteBuffer()
                for try await chunk in response.body {
                    var chunk = chunk
                    if body.readableBytes < bodyLimit { body.writeBuffer(&chunk) }
                }
                return (response.status.code, body)
            }
        }
    }
}
