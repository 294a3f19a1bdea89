import EbbCore
import Foundation
import Yams

/// Reads the `telemetry:` mapping: `scrape`, `prometheus`, `queries`, `alerts` and `alert_profile`.
struct TelemetryReader {
    let reader: YAMLNodeReader
    let suiteDirectory: URL

    static let scrapeKeys = [
        "name", "url", "metric", "labels", "increase", "value", "interval", "timeout", "bearer_token_env", "tls_verify",
    ]
    static let prometheusKeys = ["url", "bearer_token_env", "tls_verify", "timeout", "settle"]
    static let queryKeys = ["name", "query", "range", "step", "reduce", "expect"]
    static let alertKeys = ["name", "expr", "description", "severity"]

    func read(_ node: Node, problems: inout SuiteProblems) throws -> TelemetryDefinition {
        var unknown: [SuiteError] = []
        let values = try reader.knownEntries(
            node, at: "telemetry", allowed: ChecksReader.telemetryKeys, problems: &unknown)
        problems.add(unknown)
        var definition = TelemetryDefinition()
        if let scrapes = values["scrape"] {
            let items = problems.collect { try reader.sequence(scrapes, "telemetry.scrape") } ?? []
            for (index, item) in items.enumerated() {
                if let scrape = problems.collect({ try scrape(item, at: "telemetry.scrape[\(index)]") }) {
                    definition.scrapes.append(scrape)
                }
            }
        }
        definition.prometheus = values["prometheus"].flatMap { node in problems.collect { try prometheus(node) } }
        if let queries = values["queries"] {
            let items = problems.collect { try reader.sequence(queries, "telemetry.queries") } ?? []
            for (index, item) in items.enumerated() {
                if let query = problems.collect({ try query(item, at: "telemetry.queries[\(index)]") }) {
                    definition.queries.append(query)
                }
            }
        }
        if let alerts = values["alerts"] {
            definition.alerts +=
                problems.collect { try self.alerts(alerts, at: "telemetry.alerts", reader: reader) } ?? []
        }
        if let profileNode = values["alert_profile"] {
            definition.alerts += problems.collect { try alertProfile(profileNode) } ?? []
        }
        return definition
    }

    private func scrape(_ node: Node, at key: String) throws -> ScrapeAssertion {
        let values = try reader.mapping(node, at: key, allowed: Self.scrapeKeys)
        guard let nameNode = values["name"] else {
            throw reader.error(node, "\(key).name", "a scrape assertion needs a name")
        }
        guard let urlNode = values["url"] else {
            throw reader.error(node, "\(key).url", "a scrape assertion needs the url of a /metrics endpoint")
        }
        guard let metricNode = values["metric"] else {
            throw reader.error(node, "\(key).metric", "a scrape assertion needs a metric name")
        }
        let url = try reader.httpURL(urlNode, "\(key).url")
        var labels: [String: String] = [:]
        if let labelsNode = values["labels"] {
            for entry in try reader.entries(labelsNode, at: "\(key).labels", allowed: nil) {
                labels[entry.key] = try reader.string(entry.value, "\(key).labels.\(entry.key)")
            }
        }
        let measure: ScrapeAssertion.Measure
        switch (values["increase"], values["value"]) {
        case (let node?, nil): measure = .increase(try comparison(node, at: "\(key).increase"))
        case (nil, let node?): measure = .value(try comparison(node, at: "\(key).value"))
        default:
            throw reader.error(
                node, key,
                "give exactly one of 'increase' (a counter's growth) or 'value' (a gauge), e.g. increase: '<= 5'")
        }
        return ScrapeAssertion(
            name: try reader.string(nameNode, "\(key).name"), url: url,
            metric: try reader.string(metricNode, "\(key).metric"),
            labels: labels, measure: measure,
            interval: try reader.positiveDuration(values["interval"], "\(key).interval", default: .seconds(1)),
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(2)),
            bearerTokenVariable: try values["bearer_token_env"].map {
                try reader.secretVariable($0, "\(key).bearer_token_env")
            },
            verifiesTLS: try values["tls_verify"].map { try reader.boolean($0, "\(key).tls_verify") } ?? true
        )
    }

    private func prometheus(_ node: Node) throws -> PrometheusServer {
        let key = "telemetry.prometheus"
        let values = try reader.mapping(node, at: key, allowed: Self.prometheusKeys)
        guard let urlNode = values["url"] else {
            throw reader.error(node, "\(key).url", "say where Prometheus answers, e.g. url: http://127.0.0.1:9090")
        }
        let url = try reader.httpURL(urlNode, "\(key).url")
        return PrometheusServer(
            url: url,
            bearerTokenVariable: try values["bearer_token_env"].map {
                try reader.secretVariable($0, "\(key).bearer_token_env")
            },
            verifiesTLS: try values["tls_verify"].map { try reader.boolean($0, "\(key).tls_verify") } ?? true,
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(10)),
            settle: try values["settle"].map { try reader.duration($0, "\(key).settle") } ?? .zero
        )
    }

    private func query(_ node: Node, at key: String) throws -> QueryAssertion {
        let values = try reader.mapping(node, at: key, allowed: Self.queryKeys)
        guard let nameNode = values["name"] else {
            throw reader.error(node, "\(key).name", "a query assertion needs a name")
        }
        guard let queryNode = values["query"] else {
            throw reader.error(node, "\(key).query", "a query assertion needs a PromQL 'query'")
        }
        guard let expectNode = values["expect"] else {
            throw reader.error(node, "\(key).expect", "a query assertion needs 'expect', e.g. '< 0.05'")
        }
        let range = try values["range"].map { try reader.boolean($0, "\(key).range") } ?? false
        let reduction =
            try values["reduce"].map { node in
                let text = try reader.string(node, "\(key).reduce")
                guard let reduction = QueryAssertion.Reduction(rawValue: text) else {
                    throw reader.error(node, "\(key).reduce", "unknown reduction '\(text)' (max, min, avg, last)")
                }
                return reduction
            } ?? (range ? .max : .last)
        return QueryAssertion(
            name: try reader.string(nameNode, "\(key).name"), query: try reader.string(queryNode, "\(key).query"),
            range: range,
            step: try values["step"].map { try reader.positiveDuration($0, "\(key).step") },
            reduction: reduction, expectation: try comparison(expectNode, at: "\(key).expect")
        )
    }

    /// A Krkn alert profile: a list of `expr`, `description`, `severity` (and, for Ebb, an optional `name`).
    func alerts(_ node: Node, at key: String, reader: YAMLNodeReader) throws -> [AlertRule] {
        try reader.sequence(node, key).enumerated().map { index, item in
            let path = "\(key)[\(index)]"
            let values = try reader.mapping(item, at: path, allowed: Self.alertKeys)
            guard let exprNode = values["expr"] else {
                throw reader.error(item, "\(path).expr", "an alert needs a PromQL 'expr'")
            }
            let description = try values["description"].map { try reader.string($0, "\(path).description") } ?? ""
            let severity =
                try values["severity"].map { node in
                    let text = try reader.string(node, "\(path).severity")
                    guard let severity = AlertRule.Severity(rawValue: text.lowercased()) else {
                        throw reader.error(
                            node, "\(path).severity", "unknown severity '\(text)' (info, warning, error, critical)")
                    }
                    return severity
                } ?? .error
            // Krkn descriptions carry templates such as {{$value}}; a name should not.
            let plain = description.replacingOccurrences(
                of: #"\s*\{\{[^}]*\}\}"#, with: "", options: .regularExpression)
            let fallback = "alert \(index + 1)" + (plain.isEmpty ? "" : ": " + String(plain.prefix(60)))
            return AlertRule(
                name: try values["name"].map { try reader.string($0, "\(path).name") } ?? fallback,
                expression: try reader.string(exprNode, "\(path).expr"), description: description, severity: severity)
        }
    }

    /// Reads a Krkn alert profile file (relative to the suite) unchanged.
    private func alertProfile(_ node: Node) throws -> [AlertRule] {
        let path = URL(fileURLWithPath: try reader.string(node, "telemetry.alert_profile"), relativeTo: suiteDirectory)
            .standardizedFileURL.path
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw reader.error(
                node, "telemetry.alert_profile", "cannot read the alert profile \(path): \(error.localizedDescription)")
        }
        let profileReader = YAMLNodeReader(file: path)
        let root: Node?
        do {
            root = try YAMLNodeReader.compose(text)
        } catch {
            throw reader.error(node, "telemetry.alert_profile", "the alert profile \(path) is not valid YAML: \(error)")
        }
        guard let root else { return [] }
        return try alerts(root, at: "(alert profile)", reader: profileReader)
    }

    private func comparison(_ node: Node, at key: String) throws -> Comparison {
        let text = try reader.string(node, key)
        guard let comparison = Comparison(text) else {
            throw reader.error(node, key, "'\(text)' is not a comparison; \(Comparison.help)")
        }
        return comparison
    }
}

extension TelemetryDefinition {
    var names: [String] { scrapes.map(\.name) + queries.map(\.name) + alerts.map(\.name) }
}
