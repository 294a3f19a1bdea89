import AsyncHTTPClient
import Foundation
import NIOCore

/// The parts of the Prometheus HTTP API that assertions use: instant and range queries.
struct PrometheusAPI: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// One series of a result, with its samples in time order.
    struct Series: Sendable {
        var labels: [String: String]
        var values: [Double]
    }

    let server: PrometheusServer
    let client: HTTPClient
    /// Resolved once; never part of any message.
    let token: String?
    let secrets: Secrets

    func instant(_ query: String, at time: Date) async throws -> [Series] {
        try await request("api/v1/query", ["query": query, "time": Self.timestamp(time)])
    }

    func range(_ query: String, from start: Date, to end: Date, step: Duration) async throws -> [Series] {
        try await request(
            "api/v1/query_range",
            [
                "query": query, "start": Self.timestamp(start), "end": Self.timestamp(end),
                "step": String(format: "%.3f", max(0.001, step.seconds)),
            ])
    }

    private func request(_ path: String, _ parameters: [String: String]) async throws -> [Series] {
        guard
            var components = URLComponents(url: server.url.appending(path: path), resolvingAgainstBaseURL: false)
        else {
            throw Failure(description: "cannot build a query URL from \(server.url)")
        }
        components.queryItems = parameters.sorted { $0.key < $1.key }.map {
            URLQueryItem(name: $0.key, value: $0.value)
        }
        // '+' is a space in a query string to Prometheus (Go's url.ParseQuery); encode it.
        let query = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components.percentEncodedQuery = query
        guard let url = components.url else {
            throw Failure(description: "cannot build a query URL from \(server.url)")
        }
        let body: ByteBuffer
        let status: UInt
        do {
            (status, body) = try await HTTPExchange.perform(
                HTTPClientRequest(url: url.absoluteString), client: client, token: token,
                timeout: server.timeout, bodyLimit: 64 * 1024 * 1024, oversize: .refuse)
        } catch {
            throw Failure(
                description:
                    "Prometheus at \(server.url.absoluteString) did not answer: \(HTTPProbe.describe(error, redacting: secrets))"
            )
        }
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: Data(body.readableBytesView))
        } catch {
            throw Failure(description: "Prometheus answered HTTP \(status) with something that is not its API's JSON")
        }
        guard envelope.status == "success", let data = envelope.data else {
            throw Failure(
                description:
                    "Prometheus refused the query (HTTP \(status), \(envelope.errorType ?? "error")): \(secrets.redact(envelope.error ?? "no reason given"))"
            )
        }
        return try data.series()
    }

    static func timestamp(_ date: Date) -> String { String(format: "%.3f", date.timeIntervalSince1970) }

    private struct Envelope: Decodable {
        var status: String
        var data: ResultData?
        var errorType: String?
        var error: String?
    }

    private struct ResultData: Decodable {
        var resultType: String
        var result: JSONResult

        func series() throws -> [Series] {
            switch (resultType, result) {
            case ("vector", .items(let items)), ("matrix", .items(let items)):
                return try items.map { item in
                    let pairs = item.values ?? item.value.map { [$0] } ?? []
                    return Series(labels: item.metric ?? [:], values: try pairs.map { try $0.number })
                }
            case ("scalar", .pair(let pair)):
                return [Series(labels: [:], values: [try pair.number])]
            default:
                throw Failure(description: "unexpected result type '\(resultType)'")
            }
        }
    }

    private enum JSONResult: Decodable {
        case items([Item])
        case pair(Pair)

        init(from decoder: any Decoder) throws {
            if let items = try? [Item](from: decoder) {
                self = .items(items)
            } else {
                self = .pair(try Pair(from: decoder))
            }
        }
    }

    private struct Item: Decodable {
        var metric: [String: String]?
        var value: Pair?
        var values: [Pair]?
    }

    /// `[ <unix time>, "<value>" ]`
    private struct Pair: Decodable {
        var text: String

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            _ = try container.decode(Double.self)
            text = try container.decode(String.self)
        }

        var number: Double {
            get throws {
                switch text {
                case "+Inf", "Inf": return .infinity
                case "-Inf": return -.infinity
                case "NaN": return .nan
                default:
                    guard let value = Double(text) else { throw Failure(description: "'\(text)' is not a number") }
                    return value
                }
            }
        }
    }
}
