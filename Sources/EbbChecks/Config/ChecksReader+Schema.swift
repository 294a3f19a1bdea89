import EbbCore
import EbbKubernetes

/// The JSON Schema of `checks:` and `telemetry:` for `ebb schema`. Property names come from
/// the reader's own key lists, so the schema cannot offer a key the reader refuses.
extension ChecksReader {
    public var schema: (checks: JSONValue, telemetry: JSONValue, definitions: [String: JSONValue]) {
        let duration: JSONValue = ["$ref": "#/$defs/duration"]
        let comparison: JSONValue = [
            "type": "string", "description": "< 5, <= 0.1, > 0, >= 3, == 0 or between 1 and 2",
            "pattern": "^\\s*(<=|>=|==|<|>)\\s*-?[0-9.eE+-]+\\s*$|^between\\s+-?[0-9.eE+-]+\\s+and\\s+-?[0-9.eE+-]+$",
        ]
        let url: JSONValue = ["type": "string", "pattern": "^https?://"]
        let labels: JSONValue = ["type": "object", "additionalProperties": ["type": "string"]]
        let flag: JSONValue = ["anyOf": [["type": "boolean"], ["enum": ["true", "false", "yes", "no", "on", "off"]]]]
        let status: JSONValue = [
            "anyOf": [
                ["type": "integer", "minimum": 100, "maximum": 599],
                ["type": "string", "pattern": "^[1-5][0-9]{2}(-[1-5][0-9]{2})?$"],
            ]
        ]
        func closed(_ keys: [String], _ table: [String: JSONValue], required: [String] = []) -> JSONValue {
            SuiteSchema.object(keys.map { ($0, table[$0] ?? [:]) }, required: required)
        }
        let http = closed(
            Self.httpKeys,
            [
                "url": url, "method": ["type": "string"], "headers": labels,
                "bearer_token_env": ["type": "string", "description": "environment variable holding the token"],
                "status": ["anyOf": [status, ["type": "array", "items": status]]],
                "body_contains": ["type": "string"], "body_matches": ["type": "string"], "tls_verify": flag,
                "timeout": duration,
            ], required: ["url"])
        let tcp = closed(
            Self.tcpKeys, ["address": ["type": "string", "description": "host:port"], "timeout": duration],
            required: ["address"])
        let command = closed(
            Self.commandKeys,
            [
                "run": ["type": "array", "items": ["type": "string"], "minItems": 1], "exit_code": ["type": "integer"],
                "output_contains": ["type": "string"], "output_matches": ["type": "string"], "timeout": duration,
            ], required: ["run"])
        let kube = closed(
            Self.kubeKeys,
            [
                "kubeconfig": [
                    "type": "string",
                    "description":
                        "kubeconfig file, relative to the suite (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
                ],
                "context": ["type": "string"],
                "resource": ["enum": .array(KubeResource.allCases.map { .string($0.rawValue) })],
                "namespace": ["type": "string"],
                "name": ["type": "string", "description": "one object; without it the probe counts objects"],
                "field": [
                    "type": "string", "description": "dotted path of the compared field, e.g. status.readyReplicas",
                ],
                "selector": ["type": "string", "description": "label selector of the counted objects, e.g. app=web"],
                "field_selector": [
                    "type": "string",
                    "description": "field selector of the counted objects, e.g. spec.unschedulable=true",
                ],
                "ready": flag, "expect": comparison, "timeout": duration,
            ], required: ["resource", "expect"])
        let slo = closed(
            Self.sloKeys,
            [
                "max_downtime": duration,
                "min_success_ratio": [
                    "anyOf": [
                        ["type": "number", "minimum": 0, "maximum": 1], ["type": "string", "pattern": "^[0-9.]+%?$"],
                    ]
                ],
                "latency_p50": duration, "latency_p95": duration, "latency_p99": duration,
                "max_consecutive_failures": ["type": "integer", "minimum": 0], "recover_within": duration,
                "abort_on_breach": flag,
            ])
        var check = closed(
            Self.checkKeys,
            [
                "name": ["type": "string"], "http": http, "tcp": tcp, "command": command, "k8s": kube,
                "interval": duration,
                "host": [
                    "type": "string",
                    "description": "run the command check on this host of the suite's hosts: (over ssh)",
                ],
                "phases": [
                    "type": "array", "items": ["enum": .array(CheckPhase.allCases.map { .string($0.rawValue) })],
                ],
                "before_samples": ["type": "integer", "minimum": 1], "slo": slo,
            ], required: ["name"])
        if case .object(var fields) = check {
            fields["oneOf"] = [
                ["required": ["http"]], ["required": ["tcp"]], ["required": ["command"]], ["required": ["k8s"]],
            ]
            check = .object(fields)
        }
        let scrape = closed(
            TelemetryReader.scrapeKeys,
            [
                "name": ["type": "string"], "url": url, "metric": ["type": "string"], "labels": labels,
                "increase": comparison, "value": comparison, "interval": duration, "timeout": duration,
                "bearer_token_env": ["type": "string"], "tls_verify": flag,
            ], required: ["name", "url", "metric"])
        let query = closed(
            TelemetryReader.queryKeys,
            [
                "name": ["type": "string"], "query": ["type": "string"], "range": flag, "step": duration,
                "reduce": ["enum": .array(QueryAssertion.Reduction.allCases.map { .string($0.rawValue) })],
                "expect": comparison,
            ], required: ["name", "query", "expect"])
        let alert = closed(
            TelemetryReader.alertKeys,
            [
                "name": ["type": "string"], "expr": ["type": "string"], "description": ["type": "string"],
                "severity": ["enum": .array(AlertRule.Severity.allCases.map { .string($0.rawValue) })],
            ], required: ["expr"])
        let prometheus = closed(
            TelemetryReader.prometheusKeys,
            [
                "url": url, "bearer_token_env": ["type": "string"], "tls_verify": flag, "timeout": duration,
                "settle": [
                    "$ref": "#/$defs/duration",
                    "description": "wait after the scenario before querying (about one scrape interval)",
                ],
            ], required: ["url"])
        let telemetry = closed(
            Self.telemetryKeys,
            [
                "scrape": ["type": "array", "items": ["$ref": "#/$defs/scrape"]], "prometheus": prometheus,
                "queries": ["type": "array", "items": ["$ref": "#/$defs/query"]],
                "alerts": ["type": "array", "items": ["$ref": "#/$defs/alert"]],
                "alert_profile": ["type": "string", "description": "a Krkn alert profile file, relative to the suite"],
            ])
        return (
            checks: ["type": "array", "items": ["$ref": "#/$defs/check"]], telemetry: telemetry,
            definitions: ["check": check, "scrape": scrape, "query": query, "alert": alert]
        )
    }
}
