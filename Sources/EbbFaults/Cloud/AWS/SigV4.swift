import Crypto
import Foundation

/// AWS Signature Version 4, for the EC2 Query API.
///
/// Written by hand because no Swift AWS SDK is available to the project: swift-crypto gives
/// SHA-256 and HMAC, and what is left is the canonical form of the request, which is small and
/// fixed by AWS's specification. The unit tests hold it to AWS's published test vectors
/// (`get-vanilla` and friends), so a mistake in the canonical form fails there, not against a
/// real account.
public struct SigV4Signer: Sendable {
    /// The keys a request is signed with. `sessionToken` is set for temporary credentials (STS,
    /// SSO, OIDC in CI); it travels as `X-Amz-Security-Token` and is signed like any header.
    public struct Credentials: Sendable, Equatable {
        public var accessKeyID: String
        public var secretAccessKey: String
        public var sessionToken: String?

        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }
    }

    /// What the signature covers, with the canonical request and string to sign kept so that
    /// tests (and a person debugging `SignatureDoesNotMatch`) can compare them with AWS's.
    public struct Signed: Sendable {
        /// Every header to send, the input's plus `X-Amz-Date`, the session token and `Authorization`.
        public var headers: [(String, String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    public var credentials: Credentials
    public var region: String
    public var service: String

    public init(credentials: Credentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs a request. `headers` must include `Host` (as it will be sent, with a non-default
    /// port); `query` is unencoded name/value pairs; `body` is the exact payload.
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        body: Data = Data(), date: Date = Date()
    ) -> Signed {
        let amzDate = Self.timestamp(date)
        let day = String(amzDate.prefix(8))
        var all = headers.filter { $0.0.lowercased() != "authorization" && $0.0.lowercased() != "x-amz-date" }
        all.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken { all.append(("X-Amz-Security-Token", token)) }

        // Canonical headers: lowercase names, sorted, values trimmed with inner runs of spaces
        // folded to one; repeated names joined by commas in the order given.
        var grouped: [String: [String]] = [:]
        for (name, value) in all {
            let folded = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            grouped[name.lowercased(), default: []].append(folded)
        }
        let names = grouped.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [
            method,
            Self.canonicalPath(path),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            Self.hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ]
        .joined(separator: "\n")

        // The signing key is derived from the secret through the scope, one HMAC per part.
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        all.append(("Authorization", authorization))
        return Signed(
            headers: all, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
            signature: signature, authorization: authorization)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, the form of `X-Amz-Date`.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)

    /// RFC 3986 encoding with only the unreserved characters left as they are, as SigV4 demands
    /// (Foundation's URL encoders leave more alone, e.g. `+` and `/` in queries).
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) {
                out.append(Character(UnicodeScalar(byte)))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Pairs encoded and sorted by name, then value: the canonical query string, and the form
    /// body of a Query API request.
    public static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        // Encoded text is ASCII, so String order is the byte order the specification asks for.
        let encoded: [(name: String, value: String)] = pairs.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { left, right in
            left.name == right.name ? left.value < right.value : left.name < right.name
        }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// Each segment of the raw (unencoded) path encoded; EC2's Query API only ever uses `/`.
    static func canonicalPath(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        return path.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }.joined(
            separator: "/")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
