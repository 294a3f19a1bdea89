import Foundation

/// Which EC2 API a fault acts on and whose keys sign its calls: what an `cloud.aws.*` record
/// stores. It never holds a key: `ebb rollback execute` and the guardian read the keys again
/// from the environment and the AWS files where they run.
public struct EC2Connection: Codable, Sendable, Equatable {
    /// The region the instances are in, e.g. `eu-west-1`; it is part of every signature.
    public var region: String
    /// The API's base URL: `https://ec2.<region>.amazonaws.com`, or an override (an emulator).
    public var endpoint: String
    /// The named profile of the AWS files the keys came from; nil: the environment's keys,
    /// else `$AWS_PROFILE`, else `default`.
    public var profile: String?

    public init(region: String, endpoint: String, profile: String?) {
        self.region = region
        self.endpoint = endpoint
        self.profile = profile
    }
}

/// A setting Ebb cannot work out (no region, no keys, a profile kind it does not read).
struct AWSConfigError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The standard AWS settings, read as the AWS CLI and SDKs read them: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`), then
/// `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`).
///
/// Static keys and session tokens only: profiles that assume a role, use SSO or run a
/// `credential_process`, and the instance metadata service, are refused with a hint to export
/// keys first (`aws configure export-credentials --format env`), because a half-supported
/// credential chain is how a chaos tool ends up acting with the wrong account.
struct AWSEnvironment {
    var environment: [String: String]
    var home: String

    init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        home: String = NSHomeDirectory()
    ) {
        self.environment = environment
        self.home = home
    }

    /// An environment variable, with an empty value read as unset (`${VAR:-}` in CI).
    func variable(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    var credentialsFile: String { variable("AWS_SHARED_CREDENTIALS_FILE") ?? "\(home)/.aws/credentials" }
    var configFile: String { variable("AWS_CONFIG_FILE") ?? "\(home)/.aws/config" }

    /// The profile in force: the suite's, else `$AWS_PROFILE`, else `default`.
    func profileName(_ explicit: String?) -> String { explicit ?? variable("AWS_PROFILE") ?? "default" }

    /// The config file's section of `profile`: `[default]`, or `[profile NAME]` for the others.
    func configSection(_ profile: String) throws -> [String: String]? {
        let sections = try INIFile.read(configFile)
        return profile == "default"
            ? (sections["default"] ?? sections["profile default"]) : sections["profile \(profile)"]
    }

    /// The suite's region, else `$AWS_REGION`, `$AWS_DEFAULT_REGION`, else the profile's
    /// `region`. Never a default: acting in a region nobody named is refused.
    func region(_ explicit: String?, profile: String?) throws -> String {
        if let region = explicit ?? variable("AWS_REGION") ?? variable("AWS_DEFAULT_REGION") {
            return try Self.checked(region: region)
        }
        if let region = try configSection(profileName(profile))?["region"], !region.isEmpty {
            return try Self.checked(region: region)
        }
        throw AWSConfigError(
            "no AWS region: set the fault's region, AWS_REGION or AWS_DEFAULT_REGION, or region in the profile's section of \(configFile); Ebb never picks one itself"
        )
    }

    static func checked(region: String) throws -> String {
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter && $0.isLowercase || $0.isNumber || $0 == "-" }) else {
            throw AWSConfigError("'\(region)' is not an AWS region name such as eu-west-1")
        }
        return region
    }

    /// The suite's endpoint, else `$AWS_ENDPOINT_URL_EC2`, `$AWS_ENDPOINT_URL`, else the
    /// region's public endpoint. Plain `http` is allowed only to this machine (an emulator):
    /// a session token would otherwise cross the network in clear text.
    func endpoint(_ explicit: String?, region: String) throws -> String {
        let endpoint =
            explicit ?? variable("AWS_ENDPOINT_URL_EC2") ?? variable("AWS_ENDPOINT_URL")
            ?? "https://ec2.\(region).amazonaws.com\(region.hasPrefix("cn-") ? ".cn" : "")"
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else {
            throw AWSConfigError("endpoint '\(endpoint)' is not a URL such as https://ec2.eu-west-1.amazonaws.com")
        }
        switch scheme {
        case "https": break
        case "http":
            guard Self.isLoopback(host) else {
                throw AWSConfigError(
                    "endpoint \(endpoint): plain http is allowed only to this machine (127.0.0.1, ::1, localhost); use https"
                )
            }
        default:
            throw AWSConfigError("endpoint \(endpoint): the scheme must be https (or http to this machine)")
        }
        return endpoint
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The keys to sign with. Without an explicit profile, the environment's keys win (as in
    /// the AWS CLI); otherwise the profile's, from the credentials file, then the config file.
    func credentials(profile explicit: String?) throws -> SigV4Signer.Credentials {
        if explicit == nil, let id = variable("AWS_ACCESS_KEY_ID") {
            guard let secret = variable("AWS_SECRET_ACCESS_KEY") else {
                throw AWSConfigError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            }
            return SigV4Signer.Credentials(
                accessKeyID: id, secretAccessKey: secret, sessionToken: variable("AWS_SESSION_TOKEN"))
        }
        let profile = profileName(explicit)
        let fromCredentials = try INIFile.read(credentialsFile)[profile]
        let fromConfig = try configSection(profile)
        for section in [fromCredentials, fromConfig].compactMap({ $0 }) {
            if let id = section["aws_access_key_id"], !id.isEmpty {
                guard let secret = section["aws_secret_access_key"], !secret.isEmpty else {
                    throw AWSConfigError("profile \(profile) has aws_access_key_id but no aws_secret_access_key")
                }
                let token = section["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
                return SigV4Signer.Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
            }
        }
        let unsupported = [
            "role_arn", "sso_session", "sso_start_url", "credential_process", "web_identity_token_file",
            "credential_source",
        ]
        if let key = unsupported.first(where: { fromConfig?[$0] != nil || fromCredentials?[$0] != nil }) {
            throw AWSConfigError(
                "profile \(profile) gets its keys through \(key), which Ebb does not run; export keys first, e.g. eval \"$(aws configure export-credentials --profile \(profile) --format env)\""
            )
        }
        throw AWSConfigError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or give profile \(profile) keys in \(credentialsFile)"
        )
    }

    /// The connection a fault plans with: what the suite says, completed from the environment.
    func connection(region: String?, endpoint: String?, profile: String?) throws -> EC2Connection {
        let resolvedRegion = try self.region(region, profile: profile)
        // The profile is recorded when the keys come from one, so that a recovery without
        // $AWS_PROFILE still signs as the run did.
        let recordedProfile = profile ?? (variable("AWS_ACCESS_KEY_ID") == nil ? variable("AWS_PROFILE") : nil)
        return EC2Connection(
            region: resolvedRegion, endpoint: try self.endpoint(endpoint, region: resolvedRegion),
            profile: recordedProfile)
    }
}

/// The INI dialect of the AWS files: `[section]`, `key = value`, `#` and `;` comments.
/// Indented lines under a key (nested service settings such as `s3 =`) are skipped.
enum INIFile {
    /// Sections by name; an absent file reads as none.
    static func read(_ path: String) throws -> [String: [String: String]] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AWSConfigError("cannot read \(path)")
        }
        return parse(text)
    }

    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            if raw.first == " " || raw.first == "\t" { continue }
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(
                    separator: " ")
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current]?[key] = value
        }
        return sections
    }
}
