import Foundation
import Synchronization

/// The values that must never be written anywhere Ebb writes: reports, logs, the console and
/// journal messages. Filled while suites load (every variable named in `secret_env:` and by
/// `bearer_token_env`), applied at each sink.
///
/// Each value is also hidden in the forms JSON and XML give it, since a sink may escape text
/// before it reaches the file. Values shorter than ``minimumLength`` are remembered but not
/// replaced: blanking every `1` or `true` in a report would garble it and hide nothing a guess
/// would not find. ``holdsSecret(_:)`` still sees them, and reports that hold one are written
/// readable by their owner only.
public final class SecretRedactor: Sendable {
    /// The redactor the `ebb` process uses.
    public static let shared = SecretRedactor()
    /// What a secret is replaced with.
    public static let marker = "[redacted]"
    /// The shortest value that is replaced wherever it appears.
    public static let minimumLength = 4
    /// Passes the names of the secret variables (never their values) to the guardian, which
    /// inherits the environment but does not read the suite.
    public static let environmentKey = "EBB_SECRET_ENV"

    private struct State {
        var values: Set<String> = []
        /// Every form to replace, longest first, so a secret that contains another goes whole.
        var forms: [String] = []
        var names: [String] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Remembers `value` as a secret.
    public func register(_ value: String) {
        guard !value.isEmpty else { return }
        state.withLock { state in
            guard state.values.insert(value).inserted, value.count >= Self.minimumLength else { return }
            let added = Set([value, Self.jsonEscaped(value), Self.xmlEscaped(value)])
            state.forms = Array(Set(state.forms).union(added)).sorted { $0.count > $1.count }
        }
    }

    /// Remembers the value of each of `variables` that is set in `environment`.
    public func register(variables: [String], from environment: [String: String]) {
        for variable in variables {
            state.withLock { if !$0.names.contains(variable) { $0.names.append(variable) } }
            if let value = environment[variable] { register(value) }
        }
    }

    /// The names of the variables registered so far, for ``environmentKey``.
    public var variableNames: [String] { state.withLock { $0.names } }

    /// Registers the variables that ``environmentKey`` in `environment` names.
    public func registerInherited(from environment: [String: String]) {
        let names = (environment[Self.environmentKey] ?? "").split(separator: ",").map(String.init)
        register(variables: names, from: environment)
    }

    /// Whether no secret is known.
    public var isEmpty: Bool { state.withLock { $0.values.isEmpty } }

    /// `text` with every known secret (of at least ``minimumLength`` characters) replaced by ``marker``.
    public func redact(_ text: String) -> String {
        let forms = state.withLock { $0.forms }
        guard !forms.isEmpty else { return text }
        return forms.reduce(text) { $0.contains($1) ? $0.replacingOccurrences(of: $1, with: Self.marker) : $0 }
    }

    /// Whether `text` still holds a secret, i.e. one too short to redact.
    public func holdsSecret(_ text: String) -> Bool {
        let values = state.withLock { $0.values }
        return values.contains { text.contains($0) }
    }

    static func jsonEscaped(_ value: String) -> String {
        guard let data = try? JSONEncoder().encode(value), let quoted = String(data: data, encoding: .utf8) else {
            return value
        }
        return String(quoted.dropFirst().dropLast())
    }

    static func xmlEscaped(_ value: String) -> String {
        value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
