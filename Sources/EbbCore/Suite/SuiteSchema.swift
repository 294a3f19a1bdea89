import Foundation

/// The suite format as a JSON Schema (draft 2020-12), for editors that validate and complete
/// YAML (`ebb schema`). Fault parameters come from the plugin catalog and the checks sections
/// from their reader, so the schema describes exactly what this build accepts.
public enum SuiteSchema {
    public static let identifier = "https://ebb.dev/schemas/suite.json"

    /// With `remoteHosts`, the `hosts:` section and a fault's `host:`/`hosts:` (a build that can
    /// act on remote hosts, see ``RemoteFaultMaker``).
    public static func document(
        catalog: PluginCatalog, checkReader: (any CheckSectionReader)?,
        proxyReader: (any ProxySectionReader)? = nil, remoteHosts: Bool = false
    ) -> JSONValue {
        let selectors: [(String, JSONValue)] =
            remoteHosts
            ? [
                ("host", ["type": "string", "description": "run this fault on the suite's host of this name"]),
                ("hosts", ["$ref": "#/$defs/hostSelector"]),
            ]
            : []
        var definitions: [String: JSONValue] = [
            "duration": [
                "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|us|ns|h|m|s))+$",
                "description": "e.g. 250ms, 2s, 1m30s",
            ],
            "size": [
                "anyOf": [
                    ["type": "integer", "minimum": 0],
                    ["type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*([KkMmGg][Bb]?|[Bb])?$"],
                ],
                "description": "bytes, or e.g. 512K, 64M, 1G",
            ],
            "stringList": ["type": "array", "items": ["type": "string"]],
            "fixture": object(
                [
                    ("name", ["type": "string"]),
                    (
                        "command",
                        [
                            "type": "array", "items": ["type": "string"], "minItems": 1,
                            "description": "program and arguments, no shell; a leading 'ebb' is this binary",
                        ]
                    ),
                    ("env", ["type": "object", "additionalProperties": ["type": ["string", "number", "boolean"]]]),
                    ("directory", ["type": "string"]),
                    (
                        "ready",
                        object([
                            "http": ["type": "string", "pattern": "^http://"], "tcp": ["type": "string"],
                            "command": ["type": "array", "items": ["type": "string"], "minItems": 1],
                            "timeout": ["$ref": "#/$defs/duration"],
                        ])
                    ),
                ]
                    + (remoteHosts
                        ? [
                            (
                                "host",
                                ["type": "string", "description": "run this fixture on the suite's host of this name"]
                            )
                        ] : []),
                required: ["name", "command"]),
            "scenario": object(
                [
                    "name": ["type": "string"],
                    "duration": ["$ref": "#/$defs/duration"],
                    "wait_before": ["$ref": "#/$defs/duration"],
                    "wait_after": ["$ref": "#/$defs/duration"],
                    "checks": [
                        "$ref": "#/$defs/stringList",
                        "description": "the suite checks that watch this scenario (default: all)",
                    ],
                    "faults": ["type": "array", "minItems": 1, "items": ["$ref": "#/$defs/fault"]],
                ], required: ["name", "duration", "faults"]),
            "fault": [
                "oneOf": .array(
                    catalog.plugins.keys.sorted().compactMap { id in
                        catalog.plugins[id].map { plugin -> JSONValue in
                            let parameters = object(
                                plugin.parameters.map { ($0.name, schema(for: $0)) },
                                required: plugin.parameters.filter(\.isRequired).map(\.name))
                            return object(
                                [("name", ["type": "string"]), (id, parameters)] + selectors, required: [id],
                                description: plugin.summary)
                        }
                    })
            ],
        ]
        var properties: [(String, JSONValue)] = [
            ("suite", ["type": "string", "description": "the suite's name in reports"]),
            (
                "allowed_roots",
                ["$ref": "#/$defs/stringList", "description": "the only directories file and disk faults may touch"]
            ),
            (
                "include",
                [
                    "$ref": "#/$defs/stringList",
                    "description": "files of shared checks: and telemetry:, inside the suite's folder or include_roots",
                ]
            ),
            (
                "include_roots",
                [
                    "$ref": "#/$defs/stringList",
                    "description": "more folders (relative to the suite) that include: may read from",
                ]
            ),
            (
                "secret_env",
                [
                    "$ref": "#/$defs/stringList",
                    "description": "environment variables whose values are redacted from every report, log and message",
                ]
            ),
            ("setup", ["type": "array", "items": ["$ref": "#/$defs/fixture"]]),
            ("scenarios", ["type": "array", "minItems": 1, "items": ["$ref": "#/$defs/scenario"]]),
        ]
        if remoteHosts {
            definitions["host"] = object(
                SuiteLoader.hostKeySchemas.map { ($0.key, $0.value) }, required: ["name", "address"])
            definitions["hostSelector"] = [
                "description": "host names, or labels every selected host carries",
                "anyOf": [
                    ["type": "string"], ["type": "array", "items": ["type": "string"], "minItems": 1],
                    ["type": "object", "additionalProperties": ["type": "string"]],
                ],
            ]
            properties.append(
                (
                    "hosts",
                    [
                        "type": "array", "items": ["$ref": "#/$defs/host"],
                        "description": "remote machines faults act on over SSH",
                    ]
                ))
        }
        if let proxies = proxyReader?.schema {
            properties.append(("proxies", proxies))
        }
        if let sections = checkReader?.schema {
            properties += [("checks", sections.checks), ("telemetry", sections.telemetry)]
            definitions.merge(sections.definitions) { first, _ in first }
        }
        var document = object(properties, required: ["scenarios"])
        if case .object(var fields) = document {
            fields["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            fields["$id"] = .string(identifier)
            fields["title"] = "Ebb scenario suite"
            fields["$defs"] = .object(definitions)
            document = .object(fields)
        }
        return document
    }

    /// A closed object: only `properties` are allowed.
    public static func object(
        _ properties: [(String, JSONValue)], required: [String] = [], description: String? = nil
    ) -> JSONValue {
        var fields: [String: JSONValue] = [
            "type": "object", "additionalProperties": false,
            "properties": .object(Dictionary(properties, uniquingKeysWith: { first, _ in first })),
        ]
        if !required.isEmpty { fields["required"] = .array(required.map(JSONValue.string)) }
        if let description { fields["description"] = .string(description) }
        return .object(fields)
    }

    /// `object` with a dictionary literal, for fixed key sets.
    public static func object(_ properties: KeyValuePairs<String, JSONValue>, required: [String] = []) -> JSONValue {
        object(properties.map { ($0.key, $0.value) }, required: required)
    }

    static func schema(for parameter: ParameterSpec) -> JSONValue {
        let description = JSONValue.string(parameter.summary)
        switch parameter.kind {
        case .string: return ["type": "string", "description": description]
        case .integer:
            return [
                "anyOf": [["type": "integer"], ["type": "string", "pattern": "^-?[0-9]+$"]], "description": description,
            ]
        case .number:
            return [
                "anyOf": [["type": "number"], ["type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"]],
                "description": description,
            ]
        case .boolean:
            return [
                "anyOf": [["type": "boolean"], ["enum": ["true", "false", "yes", "no", "on", "off"]]],
                "description": description,
            ]
        case .duration: return ["$ref": "#/$defs/duration", "description": description]
        case .size: return ["$ref": "#/$defs/size", "description": description]
        case .argv: return ["type": "array", "items": ["type": "string"], "minItems": 1, "description": description]
        }
    }
}
