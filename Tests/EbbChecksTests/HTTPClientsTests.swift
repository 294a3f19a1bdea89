import AsyncHTTPClient
import EbbCore
import Foundation
import Testing

@testable import EbbChecks

/// The checks' HTTP clients are made before the first check, and a run can end before it
/// watches anything: clients released without a shutdown must be shut down, not left running
/// (AsyncHTTPClient stops a debug build that frees a running client).
@Suite struct HTTPClientsTests {
    @Test func clientsReleasedWithoutAShutdownAreShutDown() async throws {
        var clients: HTTPClients? = HTTPClients()
        let client = try #require(clients?.client(verifyingTLS: true))
        clients = nil
        var refused = false
        for _ in 0..<200 where !refused {
            do {
                _ = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:9/"), timeout: .seconds(1))
            } catch let error as HTTPClientError where error == .alreadyShutdown {
                refused = true
            } catch {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        #expect(refused, "the client still takes requests")
    }
}
