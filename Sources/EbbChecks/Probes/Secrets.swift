import EbbCore
import Foundation
import Synchronization

/// Bearer tokens read from the environment, and the redaction that keeps them out of every
/// message a check produces (an endpoint may echo a header back in its body or an error).
final class Secrets: Sendable {
    struct Missing: Error, CustomStringConvertible {
        var variable: String
        var description: String { "the environment variable \(variable) (bearer_token_env) is not set" }
    }

    struct Unusable: Error, CustomStringConvertible {
        var variable: String
        var description: String {
            "the environment variable \(variable) (bearer_token_env) holds a line break or another control character; strip it (a file read with a trailing newline?)"
        }
    }

    private let values = Mutex<Set<String>>([])
    private let environment: [String: String]

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The token in `variable`; remembered so that ``redact(_:)`` hides it.
    func token(from variable: String) throws -> String {
        guard let value = environment[variable], !value.isEmpty else { throw Missing(variable: variable) }
        // A header cannot carry control characters, and an HTTP library's error about one
        // would print the token escaped, where redaction would not find it.
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Unusable(variable: variable)
        }
        values.withLock { _ = $0.insert(value) }
        SecretRedactor.shared.register(value)
        return value
    }

    /// `text` with every known token replaced.
    func redact(_ text: String) -> String {
        let known = values.withLock { $0 }
        return known.reduce(text) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }
}
