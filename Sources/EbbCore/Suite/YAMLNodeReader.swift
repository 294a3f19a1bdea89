import Foundation
import Yams

/// Reads a composed YAML tree while remembering where each value came from, so that every
/// error names file, line, column and key. Yams' Codable decoding loses the positions, which
/// is why the suite is read from the node tree. Public so that sections read elsewhere
/// (EbbChecks) report errors the same way.
public struct YAMLNodeReader: Sendable {
    public let file: String

    public init(file: String) { self.file = file }

    /// Composes YAML text into a node tree with Yams' basic resolver. Every reader here takes a
    /// scalar's text and parses it itself (integers, durations, booleans), so the core schema's
    /// tags are never used; resolving them runs each plain scalar and mapping key through up
    /// to seven ICU regular expressions (about 2 ms and 1.5 MiB of a 1-fault run, measured).
    /// The one tag that matters, an empty null, is told by ``isNull(_:)``.
    public static func compose(_ text: String) throws -> Node? {
        try Yams.compose(yaml: text, .basic)
    }

    /// Whether `scalar` is an empty null (`key:` with nothing after it) as the YAML core schema
    /// resolves it: empty, and untagged (a plain scalar, or one whose text the environment
    /// substitution replaced) or tagged `!!null`. A quoted `''` is an empty string. Reads the tag
    /// as written, without resolving it.
    public static func isNull(_ scalar: Node.Scalar) -> Bool {
        guard scalar.string.isEmpty else { return false }
        let written = scalar.tag.description
        return written == Tag.Name.implicit.rawValue || written == Tag.Name.null.rawValue
    }

    public func error(_ node: Node?, _ key: String, _ message: String) -> SuiteError {
        let mark = node?.mark
        return SuiteError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, key: key, message: message)
    }

    /// The entries of a mapping whose keys are in `allowed`; each unknown key is added to
    /// `problems` (and skipped) so that one typo does not hide the problems after it.
    public func knownEntries(
        _ node: Node, at key: String, allowed: [String], problems: inout [SuiteError]
    ) throws -> [String: Node] {
        let all = try entries(node, at: key, allowed: nil)
        var known: [String: Node] = [:]
        for entry in all {
            if allowed.contains(entry.key) {
                known[entry.key] = entry.value
            } else {
                problems.append(
                    unknownKey(
                        entry.key, at: entry.keyNode, path: key.isEmpty ? entry.key : "\(key).\(entry.key)",
                        allowed: allowed))
            }
        }
        return known
    }

    public func unknownKey(_ name: String, at node: Node, path: String, allowed: [String]) -> SuiteError {
        var message = "unknown key '\(name)'"
        if let guess = Spelling.suggestion(for: name, among: allowed) { message += "; did you mean '\(guess)'?" }
        return error(node, path, message + " (allowed: \(allowed.joined(separator: ", ")))")
    }

    /// The entries of a mapping, in file order, refusing keys that are not in `allowed`.
    public func entries(
        _ node: Node, at key: String, allowed: [String]?
    ) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, key, "expected a mapping (key: value pairs), found \(kind(node))")
        }
        var seen = Set<String>()
        var result: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard let name = keyNode.scalar?.string else { throw error(keyNode, key, "keys must be plain strings") }
            let path = key.isEmpty ? name : "\(key).\(name)"
            if let allowed, !allowed.contains(name) {
                throw unknownKey(name, at: keyNode, path: path, allowed: allowed)
            }
            guard seen.insert(name).inserted else { throw error(keyNode, path, "key '\(name)' appears twice") }
            result.append((name, keyNode, value))
        }
        return result
    }

    public func string(_ node: Node, _ key: String) throws -> String {
        guard case .scalar(let scalar) = node, !Self.isNull(scalar) else {
            throw error(node, key, "expected a string, found \(kind(node))")
        }
        return scalar.string
    }

    public func duration(_ node: Node, _ key: String) throws -> Duration {
        let text = try string(node, key)
        guard let value = DurationText.parse(text) else {
            throw error(node, key, "\(quoted(text)) is not a duration; write e.g. 250ms, 2s, 1m or 1m30s")
        }
        return value
    }

    public func sequence(_ node: Node, _ key: String) throws -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, key, "expected a list, found \(kind(node))")
        }
        return Array(sequence)
    }

    public func stringList(_ node: Node, _ key: String) throws -> [String] {
        try sequence(node, key).enumerated().map { try string($0.element, "\(key)[\($0.offset)]") }
    }

    public func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if scalar.string.isEmpty || node.null != nil { return "nothing (null)" }
            return quoted(scalar.string)
        }
    }

    /// `text` in quotes for a message: a short excerpt with control characters escaped.
    public func quoted(_ text: String) -> String {
        "'\(Excerpt.of(text))'"
    }

    /// The entries of a mapping as a dictionary, refusing keys not in `allowed`.
    public func mapping(_ node: Node, at key: String, allowed: [String]) throws -> [String: Node] {
        Dictionary(uniqueKeysWithValues: try entries(node, at: key, allowed: allowed).map { ($0.key, $0.value) })
    }

    /// A duration that must be longer than zero.
    public func positiveDuration(_ node: Node, _ key: String) throws -> Duration {
        let value = try duration(node, key)
        guard value > .zero else { throw error(node, key, "must be longer than zero") }
        return value
    }

    /// An optional positive duration with a default (timeouts, intervals).
    public func positiveDuration(_ node: Node?, _ key: String, default value: Duration) throws -> Duration {
        try node.map { try positiveDuration($0, key) } ?? value
    }

    /// An http:// or https:// URL with a host.
    public func httpURL(_ node: Node, _ key: String) throws -> URL {
        let text = try string(node, key)
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw error(node, key, "\(quoted(text)) is not an http:// or https:// URL")
        }
        return url
    }

    public func integer(_ node: Node, _ key: String, in range: ClosedRange<Int>) throws -> Int {
        let text = try string(node, key)
        guard let value = Int(text), range.contains(value) else {
            throw error(
                node, key, "\(quoted(text)) is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func number(_ node: Node, _ key: String) throws -> Double {
        let text = try string(node, key)
        guard let value = Double(text), value.isFinite else {
            throw error(node, key, "\(quoted(text)) is not a number")
        }
        return value
    }

    public func boolean(_ node: Node, _ key: String) throws -> Bool {
        switch try string(node, key).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, key, "expected true or false, found \(kind(node))")
        }
    }
}
