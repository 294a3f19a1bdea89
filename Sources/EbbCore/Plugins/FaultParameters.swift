import Foundation
import Yams

/// A fault's parameters as written in the suite, with typed accessors whose errors point at the
/// offending value. Unknown keys and wrongly typed values are refused before the plugin sees them.
public struct FaultParameters {
    private let reader: YAMLNodeReader
    private let keyPath: String
    private let node: Node
    private let values: [String: Node]
    private let kinds: [String: ParameterSpec.Kind]

    init(node: Node, keyPath: String, specs: [ParameterSpec], reader: YAMLNodeReader) throws {
        self.reader = reader
        self.keyPath = keyPath
        kinds = Dictionary(specs.map { ($0.name, $0.kind) }, uniquingKeysWith: { first, _ in first })
        if node.null != nil, case .scalar = node {
            self.node = node
            values = [:]
        } else {
            self.node = node
            let entries = try reader.entries(node, at: keyPath, allowed: specs.map(\.name))
            values = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        }
        for spec in specs {
            guard let value = values[spec.name] else {
                if spec.isRequired {
                    throw reader.error(node, keyPath, "missing required parameter '\(spec.name)' (\(spec.summary))")
                }
                continue
            }
            try check(value, as: spec)
        }
    }

    /// Parameters that arrive as JSON (a remote host's agent gets them from the runner, which
    /// validated them already): read through the same checks, since JSON is YAML.
    public init(json: JSONValue, specs: [ParameterSpec], keyPath: String) throws {
        let text = String(decoding: try JSONEncoder().encode(json), as: UTF8.self)
        guard let node = try YAMLNodeReader.compose(text) else {
            throw FaultError(description: "\(keyPath): empty parameters")
        }
        try self.init(node: node, keyPath: keyPath, specs: specs, reader: YAMLNodeReader(file: "(remote request)"))
    }

    /// Names of the parameters the suite gave.
    public var names: Set<String> { Set(values.keys) }

    public func contains(_ name: String) -> Bool { values[name] != nil }

    /// An error located at parameter `name` (or at the parameter block when it is absent).
    public func error(_ name: String, _ message: String) -> SuiteError {
        reader.error(values[name] ?? node, "\(keyPath).\(name)", message)
    }

    public func string(_ name: String) throws -> String? {
        try values[name].map { try reader.string($0, "\(keyPath).\(name)") }
    }

    public func integer(_ name: String) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text) else { throw error(name, "'\(text)' is not an integer") }
        return value
    }

    public func number(_ name: String) throws -> Double? {
        guard let text = try string(name) else { return nil }
        guard let value = Double(text) else { throw error(name, "'\(text)' is not a number") }
        return value
    }

    public func boolean(_ name: String) throws -> Bool? {
        guard let node = values[name] else { return nil }
        guard let value = node.bool else { throw error(name, "expected true or false") }
        return value
    }

    public func duration(_ name: String) throws -> Duration? {
        try values[name].map { try reader.duration($0, "\(keyPath).\(name)") }
    }

    public func size(_ name: String) throws -> UInt64? {
        guard let text = try string(name) else { return nil }
        guard let value = SizeText.parse(text) else {
            throw error(name, "'\(text)' is not a size; write e.g. 4096, 512K, 64M or 1G")
        }
        return value
    }

    public func argv(_ name: String) throws -> [String]? {
        guard let node = values[name] else { return nil }
        let list = try reader.stringList(node, "\(keyPath).\(name)")
        guard !list.isEmpty else { throw error(name, "the command needs at least a program name") }
        return list
    }

    /// The parameters as plain data, for reports, dry runs and the agents of remote hosts, which
    /// read them back through ``init(json:specs:keyPath:)``. A value is the text written, read as
    /// its parameter reads it: only a boolean parameter becomes a boolean and only an integer or
    /// number parameter a number (in decimal, as ``integer(_:)`` reads it). YAML's own reading
    /// would make an argument `0644` the octal 420 and `on` true on the remote host.
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: values.map { name, node in (name, Self.json(node, as: kinds[name])) }))
    }

    private static func json(_ node: Node, as kind: ParameterSpec.Kind?) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch kind {
            case .boolean?: if let value = node.bool { return .bool(value) }
            case .integer?, .number?: if let value = Double(scalar.string) { return .number(value) }
            default: break
            }
            return .string(scalar.string)
        case .sequence(let sequence): return .array(sequence.map { json($0, as: nil) })
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = json(value, as: nil) }
            return .object(object)
        case .alias: return .null
        }
    }

    private func check(_ value: Node, as spec: ParameterSpec) throws {
        switch spec.kind {
        case .string: _ = try string(spec.name)
        case .integer: _ = try integer(spec.name)
        case .number: _ = try number(spec.name)
        case .boolean: _ = try boolean(spec.name)
        case .duration: _ = try duration(spec.name)
        case .size: _ = try size(spec.name)
        case .argv: _ = try argv(spec.name)
        }
    }
}
