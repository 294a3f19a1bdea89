import EbbCore

/// A label selector in Kubernetes' text form: `app=web,tier!=cache,canary,!legacy`
/// (`==` is accepted for `=`). Sent to the server as `labelSelector` and re-checked locally, so
/// that nothing outside the selector is ever touched even if a server ignores the parameter.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case exists(String)
        case notExists(String)
    }

    public var requirements: [Requirement]

    /// Parses the text form; nil when it is not one.
    public init?(_ text: String) {
        var requirements: [Requirement] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            if let range = part.range(of: "!=") {
                requirements.append(.notEquals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if let range = part.range(of: "==") ?? part.range(of: "=") {
                requirements.append(.equals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if part.hasPrefix("!") {
                requirements.append(.notExists(String(part.dropFirst())))
            } else {
                requirements.append(.exists(part))
            }
        }
        let valid = requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value), .notEquals(let key, let value):
                return Self.isKey(key) && (value.isEmpty || Self.isValue(value))
            case .exists(let key), .notExists(let key): return Self.isKey(key)
            }
        }
        guard valid else { return nil }
        self.requirements = requirements
    }

    public init(equalTo labels: [String: String]) {
        requirements = labels.sorted { $0.key < $1.key }.map { .equals($0.key, $0.value) }
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): return labels[key] == value
            case .notEquals(let key, let value): return labels[key] != value
            case .exists(let key): return labels[key] != nil
            case .notExists(let key): return labels[key] == nil
            }
        }
    }

    /// The selector as a NetworkPolicy `podSelector` (`matchLabels` plus `matchExpressions`).
    public var podSelector: [String: JSONValue] {
        var matchLabels: [String: JSONValue] = [:]
        var expressions: [JSONValue] = []
        for requirement in requirements {
            switch requirement {
            case .equals(let key, let value): matchLabels[key] = .string(value)
            case .notEquals(let key, let value):
                expressions.append(["key": .string(key), "operator": "NotIn", "values": [.string(value)]])
            case .exists(let key): expressions.append(["key": .string(key), "operator": "Exists"])
            case .notExists(let key): expressions.append(["key": .string(key), "operator": "DoesNotExist"])
            }
        }
        var selector: [String: JSONValue] = [:]
        if !matchLabels.isEmpty { selector["matchLabels"] = .object(matchLabels) }
        if !expressions.isEmpty { selector["matchExpressions"] = .array(expressions) }
        return selector
    }

    public var description: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let key, let value): return "\(key)=\(value)"
            case .notEquals(let key, let value): return "\(key)!=\(value)"
            case .exists(let key): return key
            case .notExists(let key): return "!\(key)"
            }
        }.joined(separator: ",")
    }

    /// A label key: an optional DNS-subdomain prefix and `/`, then a name of letters, digits, `-_.`.
    static func isKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last else { return false }
        if parts.count == 2,
            parts[0].isEmpty || !parts[0].allSatisfy({ $0.isLetter || $0.isNumber || "-.".contains($0) })
        {
            return false
        }
        return isValue(String(name))
    }

    static func isValue(_ value: String) -> Bool {
        guard let first = value.first, let last = value.last, value.count <= 63 else { return false }
        return value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            && (first.isLetter || first.isNumber) && (last.isLetter || last.isNumber)
    }
}
