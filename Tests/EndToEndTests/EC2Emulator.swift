import EbbCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// moto's EC2 API (Scenarios/aws-nodes/ec2_emulator.py), started on 127.0.0.1 for one test with
/// six running instances and killed by pid after. Its Python comes from `$EBB_AWS_PYTHON`,
/// which ci/test.sh sets to the virtualenv it makes; without it the AWS tests skip.
final class EC2Emulator {
    static var python: String? {
        guard let python = ProcessInfo.processInfo.environment["EBB_AWS_PYTHON"], !python.isEmpty else { return nil }
        return python
    }
    static let skipReason: Comment = "EBB_AWS_PYTHON is not set (ci/test.sh sets it to a Python with moto[server])"
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    }
    static let region = "us-east-1"

    struct NotStarted: Error, CustomStringConvertible {
        var description: String
    }

    let service: LocalService
    let port: Int
    /// Instance ids by their Name tag: web-1..3 (role=web), vault-1 (role=web,
    /// ebb:protected=true), batch-1 (role=batch), node-1 (role=node, pool=chaos).
    let ids: [String: String]
    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// With `verifyingSignatures`, moto checks every request's SigV4 signature (recomputed by
    /// botocore from what it received) and accepts only the keys in ``keys``.
    let keys: (id: String, secret: String)?

    init(in directory: URL, verifyingSignatures: Bool = false) throws {
        guard let python = Self.python else { throw NotStarted(description: "\(Self.skipReason)") }
        let name = verifyingSignatures ? "ec2-verifying" : "ec2"
        let portFile = directory.appendingPathComponent("\(name)-port").path
        let idsFile = directory.appendingPathComponent("\(name)-instances.json").path
        let keysFile = directory.appendingPathComponent("\(name)-keys.json").path
        let script = Self.repository.appendingPathComponent("Scenarios/aws-nodes/ec2_emulator.py").path
        service = try LocalService(
            [python, script, "--port-file", portFile, "--instances-file", idsFile, "--region", Self.region]
                + (verifyingSignatures ? ["--verify-signatures", keysFile] : []),
            in: directory, name: "\(name)-emulator")
        let clock = ContinuousClock()
        let end = clock.now + .seconds(120)
        var found: Int?
        while clock.now < end, found == nil, ChildProcess.reap(service.pid) == nil {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if found == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard let found else {
            throw NotStarted(description: "the EC2 emulator did not start within 120s:\n\(service.output)")
        }
        port = found
        ids = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: idsFile)))
        if verifyingSignatures {
            let key = try JSONDecoder().decode(
                [String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keysFile)))
            keys = (try unwrap(key["AccessKeyId"]), try unwrap(key["SecretAccessKey"]))
        } else {
            keys = nil
        }
    }

    /// What `ebb` needs to reach the emulator and nothing else: fake keys, its region and
    /// endpoint, and AWS files that do not exist (a developer's ~/.aws is never read).
    func environment(in directory: URL) -> [String: String] {
        [
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": Self.region, "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
            "AWS_ENDPOINT_URL_EC2": endpoint,
            "AWS_SHARED_CREDENTIALS_FILE": directory.appendingPathComponent("no-aws-credentials").path,
            "AWS_CONFIG_FILE": directory.appendingPathComponent("no-aws-config").path,
        ]
    }

    /// One EC2 Query API call from the test. moto checks no signature; it reads the service
    /// and region from the Authorization header's scope, so a placeholder one is enough.
    func call(_ action: String, _ parameters: [String: String] = [:]) -> String? {
        let form = (["Action": action, "Version": "2016-11-15"].merging(parameters) { $1 })
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let authorization =
            "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/\(Self.region)/ec2/aws4_request, SignedHeaders=host, Signature=0"
        guard
            let result = try? ChildProcess.run(
                ["curl", "-sf", "--max-time", "10", "-X", "POST", "-H", authorization, "--data", form, endpoint + "/"],
                timeout: .seconds(15)), result.status == 0
        else { return nil }
        return result.output
    }

    /// The instance's state name (`running`, `stopped`, ...), or nil when there was no answer.
    func state(_ name: String) -> String? {
        guard let id = ids[name], let answer = call("DescribeInstances", ["InstanceId.1": id]),
            let range = answer.range(
                of: #"<instanceState><code>\d+</code><name>([a-z-]+)</name>"#, options: .regularExpression)
        else { return nil }
        return String(answer[range]).components(separatedBy: "<name>").last?.replacingOccurrences(
            of: "</name>", with: "")
    }

    func states() -> [String: String] {
        Dictionary(uniqueKeysWithValues: ids.keys.map { ($0, state($0) ?? "?") })
    }

    /// Empties moto (every instance forgotten), through its own reset endpoint.
    func reset() -> Bool {
        guard
            let result = try? ChildProcess.run(
                ["curl", "-sf", "--max-time", "10", "-X", "POST", endpoint + "/moto-api/reset"],
                timeout: .seconds(15))
        else { return false }
        return result.status == 0
    }

    @discardableResult
    func terminate(_ name: String) -> Bool { call("TerminateInstances", ["InstanceId.1": ids[name] ?? "?"]) != nil }
}
