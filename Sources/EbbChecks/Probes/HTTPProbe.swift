import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Asks an HTTP endpoint; healthy when the status is accepted and the body matches.
struct HTTPProbe: Probe {
    /// Only the start of a body is matched against, so a huge answer cannot use up memory.
    static let bodyLimit = 64 * 1024

    let spec: HTTPProbeSpec
    let client: HTTPClient
    /// Resolved once per scenario; never part of any message.
    let token: String?
    let secrets: Secrets

    func sample() async -> ProbeOutcome {
        var request = HTTPClientRequest(url: spec.url.absoluteString)
        request.method = HTTPMethod(rawValue: spec.method)
        for (name, value) in spec.headers { request.headers.add(name: name, value: value) }
        do {
            let (status, body) = try await HTTPExchange.perform(
                request, client: client, token: token, timeout: spec.timeout,
                bodyLimit: Self.bodyLimit, oversize: .keepStart)
            let code = Int(status)
            guard spec.statuses.contains(where: { $0.contains(code) }) else {
                return ProbeOutcome(healthy: false, detail: "HTTP \(code)", answered: true)
            }
            let text = String(buffer: body)
            if let needle = spec.bodyContains, !text.contains(needle) {
                return ProbeOutcome(
                    healthy: false, detail: "HTTP \(code), body lacks '\(secrets.redact(needle))'", answered: true)
            }
            if let pattern = spec.bodyMatches, text.range(of: pattern, options: .regularExpression) == nil {
                return ProbeOutcome(
                    healthy: false, detail: "HTTP \(code), body does not match /\(pattern)/", answered: true)
            }
            return ProbeOutcome(healthy: true, detail: "HTTP \(code)", answered: true)
        } catch {
            return ProbeOutcome(healthy: false, detail: Self.describe(error, redacting: secrets), answered: false)
        }
    }

    /// Short names for the errors a probe meets, so downtime windows group them. Secrets are
    /// redacted before the text is shortened, so a cut can never leave part of one behind.
    static func describe(_ error: any Error, redacting secrets: Secrets? = nil) -> String {
        if error is Deadline.Exceeded { return "timed out" }
        if let error = error as? HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) { return "timed out" }
            if error == .remoteConnectionClosed { return "connection closed" }
            if error == .cancelled { return "cancelled" }
        }
        var text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "timed out" }
        if let secrets { text = secrets.redact(text) }
        return text.count > 200 ? String(text.prefix(200)) + "..." : text
    }
}
