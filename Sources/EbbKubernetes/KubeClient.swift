import AsyncHTTPClient
import EbbCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small Kubernetes REST client: get, list (server-side label and field selectors), create,
/// JSON merge-patch and delete, as JSON. Each call is one exchange under one deadline, usable
/// synchronously from a fault's blocking thread and asynchronously from a probe.
public final class KubeClient: Sendable {
    /// Answers larger than this are refused: a list of thousands of pods, or a wrong server.
    static let bodyLimit = 32 * 1024 * 1024

    public let config: KubeConfig
    public let timeout: Duration
    private let client: HTTPClient
    private let authorization: String?

    public init(config: KubeConfig, timeout: Duration = .seconds(15)) throws {
        self.config = config
        self.timeout = timeout
        var tls = TLSConfiguration.makeClientConfiguration()
        if config.skipsTLSVerification { tls.certificateVerification = .none }
        do {
            if let authority = config.certificateAuthority {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(authority))
            }
            if case .clientCertificate(let certificate, let key) = config.credentials {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw KubeConfigError(
                "context \(config.context): unusable TLS material (certificate authority or client certificate/key): \(error)"
            )
        }
        if case .token(let token) = config.credentials {
            authorization = "Bearer \(token)"
        } else {
            authorization = nil
        }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10)))
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    /// Ends the client's connections; call once when done.
    public func shutdown() async { try? await client.shutdown() }

    /// Ends the client's connections from a blocking thread.
    public func syncShutdown() { try? client.syncShutdown() }

    // MARK: Synchronous calls, for faults and undos (they run on blocking threads).

    public func get(_ path: String) throws -> JSONValue {
        try send(.GET, path).wait().decoded()
    }

    /// Items of a collection, filtered by the server.
    public func list(_ path: String, labelSelector: String? = nil, fieldSelector: String? = nil) throws -> [JSONValue] {
        try send(.GET, path, query: Self.selectors(labelSelector, fieldSelector)).wait().decoded()["items"]?.arrayValue
            ?? []
    }

    @discardableResult
    public func create(_ path: String, _ object: JSONValue) throws -> JSONValue {
        try send(.POST, path, body: object, contentType: "application/json").wait().decoded()
    }

    /// A JSON merge patch (RFC 7386): nulls remove keys. Put `metadata.resourceVersion` in the
    /// patch to make it conditional (409 when the object changed since it was read).
    @discardableResult
    public func mergePatch(_ path: String, _ patch: JSONValue) throws -> JSONValue {
        try send(.PATCH, path, body: patch, contentType: "application/merge-patch+json").wait().decoded()
    }

    /// Deletes an object; false when it was already gone (404), which undos treat as done.
    @discardableResult
    /// With `uid`, only the object with that uid is deleted (a replacement of the same name is not).
    public func delete(_ path: String, gracePeriodSeconds: Int? = nil, uid: String? = nil) throws -> Bool {
        var options: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if let gracePeriodSeconds { options["gracePeriodSeconds"] = .number(Double(gracePeriodSeconds)) }
        if let uid { options["preconditions"] = ["uid": .string(uid)] }
        let body: JSONValue? = options.count > 2 ? .object(options) : nil
        do {
            _ = try send(.DELETE, path, body: body, contentType: "application/json").wait().decoded()
            return true
        } catch let error as KubeAPIError where error.status == 404 {
            return false
        }
    }

    /// The object at `path`, or nil when it does not exist.
    public func find(_ path: String) throws -> JSONValue? {
        do { return try get(path) } catch let error as KubeAPIError where error.status == 404 { return nil }
    }

    /// Reads the object, computes a patch from it and applies it conditionally on the version read;
    /// on 409 (someone changed it in between) reads again and recomputes, a few times.
    /// `change` returns nil when nothing needs to change.
    @discardableResult
    public func update(
        _ path: String, attempts: Int = 5, _ change: (JSONValue) throws -> JSONValue?
    ) throws -> JSONValue? {
        for attempt in 1...attempts {
            let current = try get(path)
            guard var patch = try change(current) else { return nil }
            if let version = current["metadata"]?["resourceVersion"], case .object(var fields) = patch {
                var metadata = fields["metadata"]?.objectValue ?? [:]
                metadata["resourceVersion"] = version
                fields["metadata"] = .object(metadata)
                patch = .object(fields)
            }
            do {
                return try mergePatch(path, patch)
            } catch let error as KubeAPIError where error.status == 409 && attempt < attempts {
                continue
            }
        }
        return nil
    }

    // MARK: Asynchronous calls, for probes.

    /// `within`: a deadline shorter than the client's for this one exchange (a probe's timeout).
    /// The exchange itself must end then: a future's `get()` does not end on cancellation.
    public func get(_ path: String, within: Duration? = nil) async throws -> JSONValue {
        try await send(.GET, path, within: within).get().decoded()
    }

    public func list(
        _ path: String, labelSelector: String? = nil, fieldSelector: String? = nil, within: Duration? = nil
    ) async throws -> [JSONValue] {
        try await send(.GET, path, query: Self.selectors(labelSelector, fieldSelector), within: within).get().decoded()[
            "items"]?.arrayValue ?? []
    }

    // MARK: The exchange.

    /// One answer with what an error message needs.
    struct Answer {
        var context: String
        var method: HTTPMethod
        var path: String
        var status: UInt
        var body: Data

        func decoded() throws -> JSONValue {
            guard (200..<300).contains(status) else { throw KubeAPIError(answer: self) }
            do {
                return try JSONDecoder().decode(JSONValue.self, from: body)
            } catch {
                throw KubeAPIError(
                    context: context, method: method.rawValue, path: path, status: status,
                    message: "the answer is not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")
            }
        }
    }

    private static func selectors(_ label: String?, _ field: String?) -> [(String, String)] {
        [("labelSelector", label), ("fieldSelector", field)].compactMap { name, value in value.map { (name, $0) } }
    }

    private func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
        contentType: String? = nil, within: Duration? = nil
    ) -> EventLoopFuture<Answer> {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var components = URLComponents(url: config.server, resolvingAgainstBaseURL: false)
        components?.percentEncodedPath =
            config.server.path.trimmingCharacters(in: CharacterSet(charactersIn: "/")).isEmpty
            ? path : "/" + config.server.path.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path
        if !query.isEmpty { components?.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        let context = config.context
        guard let url = components?.url else {
            return eventLoop.makeFailedFuture(
                KubeAPIError(
                    context: context, method: method.rawValue, path: path, status: 0,
                    message: "cannot form a URL from \(config.server) and \(path)"))
        }
        do {
            var headers = HTTPHeaders([("Accept", "application/json"), ("User-Agent", "ebb")])
            if let authorization { headers.add(name: "Authorization", value: authorization) }
            if let contentType { headers.add(name: "Content-Type", value: contentType) }
            let request = try HTTPClient.Request(
                url: url, method: method, headers: headers,
                body: body.map { .bytes(Array(JSONText.encode($0).utf8)) })
            let accumulator = ResponseAccumulator(request: request, maxBodySize: Self.bodyLimit)
            let limit = within.map { min($0, timeout) } ?? timeout
            let deadline =
                NIODeadline.now()
                + .nanoseconds(
                    Int64(limit.components.seconds) * 1_000_000_000
                        + limit.components.attoseconds / 1_000_000_000)
            return client.execute(request: request, delegate: accumulator, deadline: deadline).futureResult
                .map { response in
                    Answer(
                        context: context, method: method, path: path, status: response.status.code,
                        body: response.body.map { Data(buffer: $0) } ?? Data())
                }
                .flatMapErrorThrowing { error in
                    throw KubeAPIError(
                        context: context, method: method.rawValue, path: path, status: 0, message: "\(error)")
                }
        } catch {
            return eventLoop.makeFailedFuture(
                KubeAPIError(context: context, method: method.rawValue, path: path, status: 0, message: "\(error)"))
        }
    }
}

/// An API call that failed. The message names the context, the method and path, the status and
/// the server's own explanation (a Kubernetes `Status`), and for 401/403 what that usually means.
public struct KubeAPIError: Error, CustomStringConvertible {
    public var context: String
    public var method: String
    public var path: String
    /// The HTTP status; 0 when there was no answer at all.
    public var status: UInt
    public var message: String

    public init(context: String, method: String, path: String, status: UInt, message: String) {
        self.context = context
        self.method = method
        self.path = path
        self.status = status
        self.message = message
    }

    init(answer: KubeClient.Answer) {
        let status = try? JSONDecoder().decode(JSONValue.self, from: answer.body)
        var message = status?["message"]?.stringValue ?? String(decoding: answer.body.prefix(300), as: UTF8.self)
        switch answer.status {
        case 401: message = "Unauthorized (the credentials were refused: expired or wrong token?): \(message)"
        case 403:
            message =
                "Forbidden (the account lacks permission for this; see ci/templates/kubernetes/rbac.yaml): \(message)"
        default: break
        }
        self.init(
            context: answer.context, method: answer.method.rawValue, path: answer.path, status: answer.status,
            message: message)
    }

    public var description: String {
        let outcome = status == 0 ? "no answer" : "HTTP \(status)"
        return "Kubernetes API, context \(context), \(method) \(path): \(outcome): \(message)"
    }
}
