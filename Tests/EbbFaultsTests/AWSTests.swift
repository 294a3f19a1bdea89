import EbbCore
import Foundation
import Testing

@testable import EbbFaults

/// The parts of the cloud.aws.* faults that need no EC2: SigV4 against AWS's published test
/// vectors, the XML of DescribeInstances and of EC2 errors, the AWS settings, and the
/// parameters refused at load time. The faults themselves run against moto end to end
/// (Tests/EndToEndTests/AWSTests.swift).
@Suite struct AWSSigningTests {
    /// The Signature Version 4 test suite's credentials, scope and time.
    let signer = SigV4Signer(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    /// 2015-08-30T12:36:00Z.
    let date = Date(timeIntervalSince1970: 1_440_938_160)

    @Test func getVanillaMatchesAWSsPublishedSignature() {
        let signed = signer.sign(method: "GET", path: "/", headers: [("Host", "example.amazonaws.com")], date: date)
        #expect(
            signed.canonicalRequest == """
                GET
                /

                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                host;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            signed.stringToSign == """
                AWS4-HMAC-SHA256
                20150830T123600Z
                20150830/us-east-1/service/aws4_request
                bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
                """)
        #expect(signed.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
        #expect(signed.headers.contains { $0.0 == "X-Amz-Date" && $0.1 == "20150830T123600Z" })
    }

    @Test func queryParametersAreSortedBeforeSigning() {
        // get-vanilla-query-order-key-case: the parameters arrive out of order.
        let signed = signer.sign(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
            headers: [("Host", "example.amazonaws.com")], date: date)
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func aSessionTokenIsSentAndSigned() {
        var withToken = signer
        withToken.credentials.sessionToken = "token/with+chars"
        let signed = withToken.sign(method: "POST", path: "/", headers: [("Host", "example.amazonaws.com")], date: date)
        #expect(signed.headers.contains { $0.0 == "X-Amz-Security-Token" && $0.1 == "token/with+chars" })
        #expect(signed.authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
        #expect(
            signed.signature
                != signer.sign(method: "POST", path: "/", headers: [("Host", "example.amazonaws.com")], date: date)
                .signature)
    }

    @Test func anEC2QueryAsTheClientSendsItMatchesBotocore() {
        // The form body EC2Client posts, with a session token and a Host with a port: the
        // expected signature was computed by botocore 1.44.18's SigV4Auth for the same request.
        let signer = SigV4Signer(
            credentials: .init(
                accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                sessionToken: "session/token+x"), region: "us-east-1", service: "ec2")
        let body = SigV4Signer.canonicalQuery([
            ("Action", "DescribeInstances"), ("Version", "2016-11-15"),
            ("Filter.1.Name", "tag:role"), ("Filter.1.Value.1", "web"),
        ])
        #expect(body == "Action=DescribeInstances&Filter.1.Name=tag%3Arole&Filter.1.Value.1=web&Version=2016-11-15")
        let signed = signer.sign(
            method: "POST", path: "/",
            headers: [
                ("Host", "127.0.0.1:5000"), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ],
            body: Data(body.utf8), date: date)
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=0e67bce7ef1bc16fcad98b08b715acb6a816abd93d172c348195646633aaa915"
        )
    }

    @Test func encodingLeavesOnlyUnreservedCharacters() {
        #expect(SigV4Signer.encode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(SigV4Signer.encode("a b+c/d=e&ü") == "a%20b%2Bc%2Fd%3De%26%C3%BC")
        #expect(SigV4Signer.canonicalQuery([("b", "2"), ("a", "1"), ("A", "0"), ("a", "0")]) == "A=0&a=0&a=1&b=2")
    }
}

@Suite struct EC2XMLTests {
    /// A DescribeInstances answer as moto and EC2 give it, cut down: two reservations, nested
    /// `item`s (tags, network interfaces with their own privateDnsName) and a next page.
    static let describe = """
        <?xml version="1.0" encoding="UTF-8"?>
        <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
          <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
          <reservationSet>
            <item>
              <reservationId>r-1234567890abcdef0</reservationId>
              <ownerId>123456789012</ownerId>
              <instancesSet>
                <item>
                  <instanceId>i-0c2c74e1e8c9d2196</instanceId>
                  <networkInterfaceSet><item><privateDnsName>eni-name.ec2.internal</privateDnsName><tagSet><item><key>x</key><value>y</value></item></tagSet></item></networkInterfaceSet>
                  <instanceState><code>16</code><name>running</name></instanceState>
                  <privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName>
                  <tagSet>
                    <item><key>Name</key><value>web-1</value></item>
                    <item><key>role</key><value>web</value></item>
                    <item><key>empty</key><value/></item>
                  </tagSet>
                </item>
                <item>
                  <instanceId>i-2f60d6bfe3fa72643</instanceId>
                  <instanceState><code>80</code><name>stopped</name></instanceState>
                  <privateDnsName/>
                </item>
              </instancesSet>
            </item>
            <item>
              <reservationId>r-2</reservationId>
              <instancesSet>
                <item>
                  <instanceId>i-3617eaa3e7bf36fbf</instanceId>
                  <instanceState><code>48</code><name>terminated</name></instanceState>
                  <tagSet><item><key>Name</key><value>a &amp; b</value></item></tagSet>
                </item>
              </instancesSet>
            </item>
          </reservationSet>
          <nextToken>page-2</nextToken>
        </DescribeInstancesResponse>
        """

    @Test func describeInstancesGivesIdsStatesTagsAndTheNextPage() throws {
        let page = try DescribeInstancesPage(EC2XML.parse(Data(Self.describe.utf8)))
        #expect(page.instances.map(\.id) == ["i-0c2c74e1e8c9d2196", "i-2f60d6bfe3fa72643", "i-3617eaa3e7bf36fbf"])
        #expect(page.instances.map(\.state) == ["running", "stopped", "terminated"])
        #expect(page.instances[0].tags == ["Name": "web-1", "role": "web", "empty": ""])
        #expect(
            page.instances[0].privateDNSName == "ip-10-0-0-1.ec2.internal", "the instance's own, not its interface's")
        #expect(page.instances[0].label == "i-0c2c74e1e8c9d2196 (web-1)")
        #expect(page.instances[1].privateDNSName == nil && page.instances[1].tags.isEmpty)
        #expect(page.instances[2].name == "a & b")
        #expect(page.nextToken == "page-2")
    }

    @Test func anEmptyAnswerHasNoInstancesAndNoNextPage() throws {
        let page = try DescribeInstancesPage(
            EC2XML.parse(
                Data(
                    """
                    <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><reservationSet/></DescribeInstancesResponse>
                    """.utf8)))
        #expect(page.instances.isEmpty && page.nextToken == nil)
    }

    @Test func errorDocumentsGiveCodeMessageAndRequest() throws {
        let root = try EC2XML.parse(
            Data(
                """
                <?xml version="1.0" encoding="UTF-8"?>
                <Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>ea966190</RequestID></Response>
                """.utf8))
        let error = try #require(EC2ErrorDocument(root))
        #expect(
            error
                == EC2ErrorDocument(
                    code: "InvalidInstanceID.NotFound", message: "The instance ID 'i-1' does not exist",
                    requestID: "ea966190"))
        #expect(throws: EC2XML.ParseError.self) { try DescribeInstancesPage(root) }
    }

    @Test func whatIsNotXMLOrNotTheAnswerIsRefused() {
        for text in ["", "<html><body>proxy error", "{\"json\": true}", "<a><b></a>"] {
            #expect(throws: EC2XML.ParseError.self, "\(text)") {
                try DescribeInstancesPage(EC2XML.parse(Data(text.utf8)))
            }
        }
        // Well-formed but missing what every instance has.
        #expect(throws: EC2XML.ParseError.self) {
            try DescribeInstancesPage(
                EC2XML.parse(
                    Data(
                        "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId></item></instancesSet></item></reservationSet></DescribeInstancesResponse>"
                            .utf8)))
        }
    }
}

extension EC2ErrorDocument {
    init(code: String, message: String, requestID: String?) {
        self = EC2ErrorDocument(
            EC2Element(
                name: "Response", text: "",
                children: [
                    EC2Element(
                        name: "Errors", text: "",
                        children: [
                            EC2Element(
                                name: "Error", text: "",
                                children: [
                                    EC2Element(name: "Code", text: code, children: []),
                                    EC2Element(name: "Message", text: message, children: []),
                                ])
                        ])
                ] + (requestID.map { [EC2Element(name: "RequestID", text: $0, children: [])] } ?? [])))!
    }
}

@Suite struct AWSSettingsTests {
    let home = FileManager.default.temporaryDirectory.appendingPathComponent("ebb-aws-\(UUID().uuidString.prefix(8))")

    func environment(
        _ variables: [String: String], credentials: String? = nil, config: String? = nil
    ) throws -> AWSEnvironment {
        try FileManager.default.createDirectory(
            at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        if let credentials {
            try credentials.write(
                to: home.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        }
        if let config {
            try config.write(to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)
        }
        return AWSEnvironment(environment: variables, home: home.path)
    }

    func remove() { try? FileManager.default.removeItem(at: home) }

    @Test func theEnvironmentsKeysWinUnlessAProfileIsNamed() throws {
        defer { remove() }
        let files = """
            [default]
            aws_access_key_id = AKIDFILE
            aws_secret_access_key = filesecret

            [ci]
            aws_access_key_id=AKIDCI
            aws_secret_access_key=cisecret
            aws_session_token = citoken
            """
        let aws = try environment(
            ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": ""],
            credentials: files)
        #expect(
            try aws.credentials(profile: nil)
                == .init(accessKeyID: "AKIDENV", secretAccessKey: "envsecret", sessionToken: nil))
        #expect(
            try aws.credentials(profile: "ci")
                == .init(accessKeyID: "AKIDCI", secretAccessKey: "cisecret", sessionToken: "citoken"))
        let fromFile = try environment(["AWS_PROFILE": "ci"], credentials: files)
        #expect(try fromFile.credentials(profile: nil).accessKeyID == "AKIDCI")
        #expect(
            try fromFile.connection(region: "eu-west-1", endpoint: nil, profile: nil).profile == "ci",
            "recorded for recovery")
        #expect(try environment([:], credentials: files).credentials(profile: nil).accessKeyID == "AKIDFILE")
    }

    @Test func regionComesFromTheSuiteTheEnvironmentOrTheProfileAndIsNeverGuessed() throws {
        defer { remove() }
        let config = """
            [default]
            region = eu-central-1
            [profile ci]
            region = ap-south-1
            s3 =
              max_concurrent_requests = 20
            """
        #expect(
            try environment(["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-2"], config: config).region(
                nil, profile: nil) == "us-west-2")
        #expect(
            try environment(["AWS_DEFAULT_REGION": "us-east-2"], config: config).region(nil, profile: nil)
                == "us-east-2")
        #expect(try environment([:], config: config).region(nil, profile: nil) == "eu-central-1")
        #expect(try environment([:], config: config).region(nil, profile: "ci") == "ap-south-1")
        #expect(
            try environment(["AWS_REGION": "us-west-2"], config: config).region("sa-east-1", profile: nil)
                == "sa-east-1")
        remove()
        #expect(throws: AWSConfigError.self) { try environment([:]).region(nil, profile: nil) }
        #expect(throws: AWSConfigError.self) { try environment(["AWS_REGION": "EU West"]).region(nil, profile: nil) }
    }

    @Test func endpointsArePublicHTTPSOrPlainHTTPOnThisMachineOnly() throws {
        defer { remove() }
        let aws = try environment([:])
        #expect(try aws.endpoint(nil, region: "eu-west-1") == "https://ec2.eu-west-1.amazonaws.com")
        #expect(try aws.endpoint(nil, region: "cn-north-1") == "https://ec2.cn-north-1.amazonaws.com.cn")
        #expect(
            try environment([
                "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_EC2": "http://localhost:4566",
            ]).endpoint(nil, region: "us-east-1") == "http://localhost:4566")
        #expect(
            try environment(["AWS_ENDPOINT_URL": "http://[::1]:5000"]).endpoint(nil, region: "us-east-1")
                == "http://[::1]:5000")
        for bad in ["http://10.0.0.5:4566", "ftp://127.0.0.1", "not a url"] {
            #expect(throws: AWSConfigError.self, "\(bad)") { try aws.endpoint(bad, region: "us-east-1") }
        }
    }

    @Test func profilesThatRunSomethingForTheirKeysAreRefusedWithAHint() throws {
        defer { remove() }
        let aws = try environment(
            ["AWS_PROFILE": "sso"], config: "[profile sso]\nsso_session = corp\nregion = eu-west-1\n")
        do {
            _ = try aws.credentials(profile: nil)
            Issue.record("an SSO profile gave keys")
        } catch {
            #expect("\(error)".contains("sso_session") && "\(error)".contains("export-credentials"), "\(error)")
        }
        #expect(throws: AWSConfigError.self) {
            try environment(["AWS_ACCESS_KEY_ID": "AKID"]).credentials(profile: nil)
        }
    }
}

/// The cloud.aws.* parameters are refused at load time (exit 3), before any API is asked.
@Suite struct AWSParameterTests {
    func problem(_ yaml: String) throws -> String? {
        let harness = try FaultHarness()
        defer { harness.remove() }
        do {
            _ = try harness.fault(yaml)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func validParametersLoadWithoutTouchingAWS() throws {
        for yaml in [
            "cloud.aws.instance-stop: { instance_ids: [i-0123456789abcdef0], region: eu-west-1 }",
            "cloud.aws.instance-stop: { tags: [role=web, 'team'], max_instances: 3, force: true, running_timeout: 10m, endpoint: 'http://127.0.0.1:5000' }",
            "cloud.aws.instance-reboot: { instance_ids: [i-0123456789abcdef0, i-0123456789abcdef1], max_instances: 2, profile: ci }",
            "cloud.aws.instance-stop: { tags: [pool=chaos], node_ready: true, kubeconfig: '', context: prod }",
        ] {
            #expect(try problem(yaml) == nil, "\(yaml)")
        }
    }

    @Test func badValuesAreRefusedNamingTheParameter() throws {
        let cases: [(String, String)] = [
            ("cloud.aws.instance-stop: { region: eu-west-1 }", "either instance_ids or tags"),
            (
                "cloud.aws.instance-stop: { instance_ids: [i-0123456789abcdef0], tags: [a=b] }",
                "either instance_ids or tags"
            ),
            ("cloud.aws.instance-stop: { instance_ids: [web-1] }", "not an EC2 instance id"),
            (
                "cloud.aws.instance-stop: { instance_ids: [i-0123456789abcdef0, i-0123456789abcdef1] }",
                "more than max_instances 1"
            ),
            ("cloud.aws.instance-reboot: { tags: [role=web], max_instances: 0 }", "at least 1"),
            ("cloud.aws.instance-reboot: { tags: ['=web'] }", "not Key=Value or Key"),
            ("cloud.aws.instance-stop: { tags: [role=web], region: 'EU West' }", "not an AWS region name"),
            ("cloud.aws.instance-stop: { tags: [role=web], kubeconfig: kc }", "read only with node_ready: true"),
        ]
        for (yaml, expected) in cases {
            let message = try problem(yaml)
            #expect(message?.contains(expected) == true, "\(yaml): \(message ?? "loaded")")
        }
    }
}

/// Which Kubernetes node runs on an instance, for `node_ready`.
@Suite struct EC2NodeMapTests {
    let instance = EC2Instance(
        id: "i-0c2c74e1e8c9d2196", state: "running", tags: [:], privateDNSName: "ip-10-0-0-1.ec2.internal")

    func node(_ name: String, provider: String? = nil, ready: String? = nil) -> JSONValue {
        var spec: [String: JSONValue] = [:]
        if let provider { spec["providerID"] = .string(provider) }
        let conditions: [JSONValue] =
            ready.map { [["type": "MemoryPressure", "status": "False"], ["type": "Ready", "status": .string($0)]] }
            ?? []
        return [
            "metadata": ["name": .string(name)], "spec": .object(spec), "status": ["conditions": .array(conditions)],
        ]
    }

    @Test func theProviderIDWinsThenThePrivateDNSName() {
        let byProvider = [
            node("ip-10-0-0-1.ec2.internal"), node("eks-node-a", provider: "aws:///us-east-1a/i-0c2c74e1e8c9d2196"),
        ]
        #expect(EC2NodeMap.node(of: instance, among: byProvider) == "eks-node-a")
        #expect(
            EC2NodeMap.node(
                of: instance,
                among: [node("ip-10-0-0-1.ec2.internal"), node("other", provider: "aws:///us-east-1a/i-1")])
                == "ip-10-0-0-1.ec2.internal")
        // Another cloud's id, or an id this one only starts with, is not this instance.
        #expect(
            EC2NodeMap.node(
                of: instance,
                among: [
                    node("gce", provider: "gce://p/z/i-0c2c74e1e8c9d2196"),
                    node("longer", provider: "aws:///us-east-1a/i-0c2c74e1e8c9d21960"),
                ]) == nil)
    }

    @Test func readinessIsTheReadyCondition() {
        #expect(EC2NodeMap.ready(node("n", ready: "True")) == "True")
        #expect(EC2NodeMap.ready(node("n", ready: "Unknown")) == "Unknown")
        #expect(EC2NodeMap.ready(node("n")) == nil)
    }
}
