import AsyncHTTPClient
import EbbCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

/// A small client of the EC2 Query API: DescribeInstances, StartInstances, StopInstances and
/// RebootInstances, signed with SigV4 and answered in XML. Synchronous, for faults and undos,
/// which run on blocking threads (as ``KubeClient``'s synchronous calls are).
final class EC2Client: Sendable {
    /// The Query API version every call names; EC2 has answered this one since 2016.
    static let apiVersion = "2016-11-15"
    /// Answers larger than this are refused: a wrong server, not EC2.
    static let bodyLimit = 16 * 1024 * 1024

    let connection: EC2Connection
    let timeout: Duration
    private let signer: SigV4Signer
    private let url: URL
    private let client: HTTPClient

    /// Reads the keys now (from `environment`) and opens no connection until the first call.
    init(
        _ connection: EC2Connection, environment: AWSEnvironment = AWSEnvironment(), timeout: Duration = .seconds(30)
    ) throws {
        self.connection = connection
        self.timeout = timeout
        let endpoint = try environment.endpoint(connection.endpoint, region: connection.region)
        guard let url = URL(string: endpoint) else { throw AWSConfigError("endpoint '\(endpoint)' is not a URL") }
        self.url = url
        signer = SigV4Signer(
            credentials: try environment.credentials(profile: connection.profile), region: connection.region,
            service: "ec2")
        client = HTTPClient(
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10))))
    }

    func syncShutdown() { try? client.syncShutdown() }

    /// Runs `body` with a client for `connection`, shut down afterwards.
    @discardableResult
    static func with<T>(_ connection: EC2Connection, _ body: (EC2Client) throws -> T) throws -> T {
        let client = try EC2Client(connection)
        defer { client.syncShutdown() }
        return try body(client)
    }

    // MARK: The calls the faults use.

    /// The instances with these ids; any unknown id fails the whole call (`InvalidInstanceID.NotFound`).
    func describe(ids: [String]) throws -> [EC2Instance] {
        try describePages(ids.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) })
    }

    /// Each id's instance, or nil for an id EC2 does not know (terminated long ago, or another
    /// account's): one call, and one per id only when the batch names an unknown one.
    func describeEach(ids: [String]) throws -> [String: EC2Instance?] {
        do {
            let found = try describe(ids: ids)
            return Dictionary(uniqueKeysWithValues: ids.map { id in (id, found.first { $0.id == id }) })
        } catch let error as EC2APIError where error.isNotFound && ids.count > 1 {
            var result: [String: EC2Instance?] = [:]
            for id in ids { result[id] = try describeEach(ids: [id])[id] ?? nil }
            return result
        } catch let error as EC2APIError where error.isNotFound {
            return [ids[0]: nil]
        }
    }

    /// The instances matching every filter (`tag:Key`, `tag-key`, ...), all pages.
    func describe(filters: [(name: String, values: [String])]) throws -> [EC2Instance] {
        var parameters: [(String, String)] = []
        for (index, filter) in filters.enumerated() {
            parameters.append(("Filter.\(index + 1).Name", filter.name))
            for (valueIndex, value) in filter.values.enumerated() {
                parameters.append(("Filter.\(index + 1).Value.\(valueIndex + 1)", value))
            }
        }
        return try describePages(parameters + [("MaxResults", "1000")])
    }

    private func describePages(_ parameters: [(String, String)]) throws -> [EC2Instance] {
        var instances: [EC2Instance] = []
        var token: String?
        // Bounded: 100 pages of 1000 is far more than any selection max_instances admits.
        for _ in 0..<100 {
            let page = try DescribeInstancesPage(
                call("DescribeInstances", parameters + (token.map { [("NextToken", $0)] } ?? [])))
            instances += page.instances
            guard let next = page.nextToken else { return instances }
            token = next
        }
        throw EC2APIError(
            action: "DescribeInstances", connection: connection, status: 0, code: nil,
            message: "more than 100 pages of instances; narrow the selection", requestID: nil)
    }

    func start(ids: [String]) throws { _ = try call("StartInstances", Self.idParameters(ids)) }

    func stop(ids: [String], force: Bool) throws {
        _ = try call("StopInstances", Self.idParameters(ids) + (force ? [("Force", "true")] : []))
    }

    func reboot(ids: [String]) throws { _ = try call("RebootInstances", Self.idParameters(ids)) }

    static func idParameters(_ ids: [String]) -> [(String, String)] {
        ids.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) }
    }

    // MARK: The exchange.

    /// One Query API call: a signed form POST. Throttling and 5xx answers are retried twice,
    /// with backoff; anything else is thrown as an ``EC2APIError`` naming the action.
    func call(_ action: String, _ parameters: [(String, String)]) throws -> EC2Element {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try exchange(action, parameters)
            } catch let error as EC2APIError where error.isTransient && attempt < 3 {
                Thread.sleep(forTimeInterval: Double(attempt))
            }
        }
    }

    private func exchange(_ action: String, _ parameters: [(String, String)]) throws -> EC2Element {
        let body = Data(
            SigV4Signer.canonicalQuery([("Action", action), ("Version", Self.apiVersion)] + parameters).utf8)
        let path = url.path.isEmpty ? "/" : url.path
        // Host as the HTTP client sends it: with the port when it is not the scheme's default.
        let host = url.port.map { "\(url.host!):\($0)" } ?? url.host!
        let signed = signer.sign(
            method: "POST", path: path,
            headers: [("Host", host), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: body)
        let failure = { (status: UInt, message: String) in
            EC2APIError(
                action: action, connection: self.connection, status: status, code: nil, message: message, requestID: nil
            )
        }
        let answer: (status: UInt, body: Data)
        do {
            var headers = HTTPHeaders(signed.headers)
            headers.add(name: "User-Agent", value: "ebb")
            let request = try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .bytes(Array(body)))
            let accumulator = ResponseAccumulator(request: request, maxBodySize: Self.bodyLimit)
            let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
            let response = try client.execute(request: request, delegate: accumulator, deadline: deadline).wait()
            answer = (response.status.code, response.body.map { Data(buffer: $0) } ?? Data())
        } catch {
            throw failure(0, "no answer: \(error)")
        }
        let root: EC2Element
        do {
            root = try EC2XML.parse(answer.body)
        } catch {
            throw failure(answer.status, "\(error)")
        }
        guard (200..<300).contains(answer.status) else {
            let document = EC2ErrorDocument(root)
            throw EC2APIError(
                action: action, connection: connection, status: answer.status, code: document?.code,
                message: document?.message ?? String(decoding: answer.body.prefix(300), as: UTF8.self),
                requestID: document?.requestID)
        }
        return root
    }
}

/// A call EC2 refused or did not answer. The message names the action, the endpoint and
/// region, the HTTP status, EC2's error code and message, and for credential errors what
/// they usually mean.
public struct EC2APIError: Error, CustomStringConvertible {
    public var action: String
    public var connection: EC2Connection
    /// The HTTP status; 0 when there was no answer at all.
    public var status: UInt
    /// EC2's error code, e.g. `InvalidInstanceID.NotFound` or `UnauthorizedOperation`.
    public var code: String?
    public var message: String
    public var requestID: String?

    var isNotFound: Bool { code == "InvalidInstanceID.NotFound" }
    var isTransient: Bool {
        status >= 500
            || ["RequestLimitExceeded", "Throttling", "ThrottlingException", "ServiceUnavailable", "InternalError"]
                .contains(code ?? "")
    }

    public var description: String {
        var text = "EC2 \(action) at \(connection.endpoint) (region \(connection.region)): "
        text += status == 0 ? message : "HTTP \(status)\(code.map { " \($0)" } ?? ""): \(message)"
        if let requestID { text += " (request \(requestID))" }
        switch code {
        case "AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException":
            text +=
                "; the keys are not valid here (a wrong secret, another account's key, an expired session token, or a region that is not enabled)"
        case "SignatureDoesNotMatch":
            text += "; the secret key does not match the access key"
        case "RequestExpired":
            text += "; the request's time is too far from AWS's: check this machine's clock"
        case "UnauthorizedOperation":
            text += "; the credentials lack the IAM permission for \(action) (see the policy in docs/reference.md)"
        default: break
        }
        return text
    }
}
