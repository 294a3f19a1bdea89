import EbbCore
import EbbKubernetes
import Foundation
import Yams

/// Reads a suite's `checks:` list and `telemetry:` mapping into a ``SuiteChecks`` plan,
/// reporting every problem with file, line, column and key.
public struct ChecksReader: CheckSectionReader {
    public init() {}

    /// An error that is not a suite error, placed at the top of the file (none is expected).
    static func placed(_ error: any Error) -> SuiteError {
        SuiteError(file: "", line: 1, column: 1, key: "(checks)", message: "\(error)")
    }

    static let checkKeys = [
        "name", "http", "tcp", "command", "k8s", "host", "interval", "phases", "before_samples", "slo",
    ]
    static let httpKeys = [
        "url", "method", "headers", "bearer_token_env", "status", "body_contains", "body_matches", "tls_verify",
        "timeout",
    ]
    static let tcpKeys = ["address", "timeout"]
    static let commandKeys = ["run", "exit_code", "output_contains", "output_matches", "timeout"]
    static let kubeKeys = [
        "kubeconfig", "context", "resource", "namespace", "name", "field", "selector", "field_selector", "ready",
        "expect", "timeout",
    ]
    static let sloKeys = [
        "max_downtime", "min_success_ratio", "latency_p50", "latency_p95", "latency_p99",
        "max_consecutive_failures", "recover_within", "abort_on_breach",
    ]
    static let telemetryKeys = ["scrape", "prometheus", "queries", "alerts", "alert_profile"]

    public func read(_ sections: [CheckSections]) throws -> any CheckPlan {
        var problems = SuiteProblems(placingOthers: ChecksReader.placed)
        var definitions: [CheckDefinition] = []
        var telemetry = TelemetryDefinition()
        var seen: Set<String> = []
        for section in sections {
            let reader = section.reader
            var names: [(String, Node?)] = []
            if let checks = section.checks {
                let items = problems.collect { try reader.sequence(checks, "checks") } ?? []
                for (index, item) in items.enumerated() {
                    if let check = problems.collect({
                        try check(item, at: "checks[\(index)]", reader, section.directory, hosts: section.hosts)
                    }) {
                        definitions.append(check)
                        names.append((check.name, item))
                    }
                }
            }
            if let node = section.telemetry {
                var telemetryProblems = SuiteProblems(placingOthers: ChecksReader.placed)
                let more =
                    problems.collect {
                        try TelemetryReader(reader: reader, suiteDirectory: section.directory).read(
                            node, problems: &telemetryProblems)
                    } ?? TelemetryDefinition()
                problems.add(telemetryProblems.errors)
                if more.prometheus != nil, telemetry.prometheus != nil {
                    problems.add(
                        reader.error(
                            node, "telemetry.prometheus",
                            "a Prometheus server is already configured (by the suite or an earlier include); give it once"
                        ))
                }
                telemetry.prometheus = telemetry.prometheus ?? more.prometheus
                telemetry.scrapes += more.scrapes
                telemetry.queries += more.queries
                telemetry.alerts += more.alerts
                names += more.names.map { ($0, node) }
            }
            for (name, node) in names where !seen.insert(name).inserted {
                problems.add(
                    reader.error(
                        node, "checks",
                        "the name '\(name)' is used twice; checks and telemetry assertions need distinct names"))
            }
        }
        if telemetry.prometheus == nil, !(telemetry.queries.isEmpty && telemetry.alerts.isEmpty),
            let section = sections.first(where: { $0.telemetry != nil })
        {
            problems.add(
                section.reader.error(
                    section.telemetry, "telemetry.prometheus",
                    "queries and alerts need 'prometheus: {url: ...}' to say which server answers them"))
        }
        try problems.throwIfAny()
        return SuiteChecks(checks: definitions, telemetry: telemetry)
    }

    private func check(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, _ suiteDirectory: URL,
        hosts: [RemoteHost]
    ) throws -> CheckDefinition {
        var problems = SuiteProblems(placingOthers: ChecksReader.placed)
        var unknown: [SuiteError] = []
        let values = try reader.knownEntries(node, at: key, allowed: Self.checkKeys, problems: &unknown)
        problems.add(unknown)
        guard let nameNode = values["name"] else { throw reader.error(node, "\(key).name", "a check needs a name") }
        let name = try reader.string(nameNode, "\(key).name")
        let probes = ["http", "tcp", "command", "k8s"].filter { values[$0] != nil }
        var probe: ProbeSpec?
        if probes.count != 1 {
            problems.add(reader.error(node, key, "a check needs exactly one probe: 'http', 'tcp', 'command' or 'k8s'"))
        } else if let kind = probes.first, let probeNode = values[kind] {
            let path = "\(key).\(kind)"
            probe = problems.collect {
                switch kind {
                case "http": return .http(try http(probeNode, at: path, reader))
                case "tcp": return .tcp(try tcp(probeNode, at: path, reader))
                case "k8s": return .k8s(try kube(probeNode, at: path, reader, suiteDirectory))
                default: return .command(try command(probeNode, at: path, reader, suiteDirectory))
                }
            }
        }
        if let hostNode = values["host"], let current = probe {
            probe = problems.collect { try onHost(current, hostNode, at: "\(key).host", reader, hosts: hosts) }
        }
        let interval = problems.collect { () -> Duration in
            guard let node = values["interval"] else { return .milliseconds(100) }
            let value = try reader.duration(node, "\(key).interval")
            // Finer than this measures the probe, not the target, and floods it.
            guard value >= .milliseconds(10) else {
                throw reader.error(node, "\(key).interval", "the interval must be at least 10ms")
            }
            return value
        }
        let phases = problems.collect { () -> Set<CheckPhase> in
            guard let phasesNode = values["phases"] else { return Set(CheckPhase.allCases) }
            let names = try reader.stringList(phasesNode, "\(key).phases")
            return Set(
                try names.enumerated().map { index, text in
                    guard let phase = CheckPhase(rawValue: text) else {
                        throw reader.error(
                            phasesNode, "\(key).phases[\(index)]",
                            "unknown phase '\(text)' (phases: before, during, after, recovery)")
                    }
                    return phase
                })
        }
        let beforeSamples = problems.collect {
            try values["before_samples"].map { try reader.integer($0, "\(key).before_samples", in: 1...1000) } ?? 3
        }
        let slo = problems.collect { try values["slo"].map { try self.slo($0, at: "\(key).slo", reader) } }
        if let slo = slo ?? nil, let phases, !phases.contains(.during),
            slo.maxDowntime != nil || slo.minSuccessRatio != nil || !slo.latency.isEmpty
                || slo.maxConsecutiveFailures != nil || slo.abortOnBreach
        {
            problems.add(
                reader.error(
                    values["slo"], "\(key).slo",
                    "these SLOs are measured while the faults are live: add 'during' to phases"))
        }
        try problems.throwIfAny()
        guard let probe, let interval, let phases, let beforeSamples, let slo else { throw SuiteErrors([]) }
        return CheckDefinition(
            name: name, probe: probe, interval: interval, phases: phases, beforeSamples: beforeSamples, slo: slo)
    }

    /// A command check with `host:` runs its command on that host, through the same ssh
    /// (one shared connection per host) as faults there; so it sees what the host sees.
    private func onHost(
        _ probe: ProbeSpec, _ node: Node, at key: String, _ reader: YAMLNodeReader, hosts: [RemoteHost]
    ) throws -> ProbeSpec {
        let host = try HostSelection.host(node, key: key, among: hosts, reader: reader)
        guard case .command(var spec) = probe else {
            throw reader.error(
                node, key,
                "only a command check runs on a host (e.g. command: { run: [curl, -sf, \"http://127.0.0.1:8080/\"] }); "
                    + "http, tcp and k8s checks probe from this machine")
        }
        try SSHCommand.prepareControlDirectory()
        spec.remote = (host.name, spec.command)
        spec.command = SSHCommand(host: host).arguments(running: spec.command.map(Shell.quoted).joined(separator: " "))
        return .command(spec)
    }

    private func http(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> HTTPProbeSpec {
        let values = try reader.mapping(node, at: key, allowed: Self.httpKeys)
        guard let urlNode = values["url"] else { throw reader.error(node, "\(key).url", "an http probe needs a url") }
        let url = try reader.httpURL(urlNode, "\(key).url")
        var headers: [(String, String)] = []
        if let headersNode = values["headers"] {
            for entry in try reader.entries(headersNode, at: "\(key).headers", allowed: nil) {
                if entry.key.lowercased() == "authorization" {
                    throw reader.error(
                        entry.keyNode, "\(key).headers.\(entry.key)",
                        "put credentials in an environment variable and name it with 'bearer_token_env', so they stay out of the suite and the reports"
                    )
                }
                headers.append((entry.key, try reader.string(entry.value, "\(key).headers.\(entry.key)")))
            }
        }
        var statuses: [ClosedRange<Int>] = [200...299]
        if let statusNode = values["status"] {
            let items: [Node] =
                if case .sequence = statusNode { try reader.sequence(statusNode, "\(key).status") } else {
                    [statusNode]
                }
            statuses = try items.map { try statusRange($0, at: "\(key).status", reader) }
        }
        let pattern = try values["body_matches"].map { try regex($0, at: "\(key).body_matches", reader) }
        return HTTPProbeSpec(
            url: url,
            method: try values["method"].map { try reader.string($0, "\(key).method").uppercased() } ?? "GET",
            headers: headers,
            bearerTokenVariable: try values["bearer_token_env"].map {
                try reader.secretVariable($0, "\(key).bearer_token_env")
            },
            statuses: statuses,
            bodyContains: try values["body_contains"].map { try reader.string($0, "\(key).body_contains") },
            bodyMatches: pattern,
            verifiesTLS: try values["tls_verify"].map { try reader.boolean($0, "\(key).tls_verify") } ?? true,
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(1))
        )
    }

    private func tcp(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> TCPProbeSpec {
        let values = try reader.mapping(node, at: key, allowed: Self.tcpKeys)
        guard let addressNode = values["address"] else {
            throw reader.error(node, "\(key).address", "a tcp probe needs an address (host:port)")
        }
        let text = try reader.string(addressNode, "\(key).address")
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port),
            colon != text.startIndex
        else {
            throw reader.error(addressNode, "\(key).address", "'\(text)' is not host:port")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return TCPProbeSpec(
            host: host, port: port,
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(1)))
    }

    private func command(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, _ suiteDirectory: URL
    ) throws -> CommandProbeSpec {
        let values = try reader.mapping(node, at: key, allowed: Self.commandKeys)
        guard let runNode = values["run"] else {
            throw reader.error(node, "\(key).run", "a command probe needs 'run': [program, arg, ...]")
        }
        let command = try reader.stringList(runNode, "\(key).run")
        guard !command.isEmpty else {
            throw reader.error(runNode, "\(key).run", "the command needs at least a program name")
        }
        return CommandProbeSpec(
            command: command,
            exitCode: Int32(
                try values["exit_code"].map { try reader.integer($0, "\(key).exit_code", in: 0...255) } ?? 0),
            outputContains: try values["output_contains"].map { try reader.string($0, "\(key).output_contains") },
            outputMatches: try values["output_matches"].map { try regex($0, at: "\(key).output_matches", reader) },
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(5)),
            directory: suiteDirectory.path
        )
    }

    private func kube(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, _ suiteDirectory: URL
    ) throws -> KubeProbeSpec {
        let values = try reader.mapping(node, at: key, allowed: Self.kubeKeys)
        func text(_ name: String) throws -> String? { try values[name].map { try reader.string($0, "\(key).\(name)") } }
        guard let resourceNode = values["resource"] else {
            throw reader.error(
                node, "\(key).resource",
                "a k8s probe needs a resource (\(KubeResource.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let resourceText = try reader.string(resourceNode, "\(key).resource")
        guard let resource = KubeResource(rawValue: resourceText) else {
            throw reader.error(
                resourceNode, "\(key).resource",
                "unknown resource '\(resourceText)' (\(KubeResource.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let expectNode = values["expect"] else {
            throw reader.error(node, "\(key).expect", "a k8s probe needs expect, e.g. '>= 3'")
        }
        let expectText = try reader.string(expectNode, "\(key).expect")
        guard let expect = Comparison(expectText) else {
            throw reader.error(expectNode, "\(key).expect", "'\(expectText)': \(Comparison.help)")
        }
        let selector = try values["selector"].map { selectorNode in
            let text = try reader.string(selectorNode, "\(key).selector")
            guard let selector = LabelSelector(text) else {
                throw reader.error(selectorNode, "\(key).selector", "'\(text)' is not a label selector such as app=web")
            }
            return selector
        }
        let name = try text("name")
        let fieldSelector = try text("field_selector")
        if name != nil, selector != nil || fieldSelector != nil {
            throw reader.error(
                values["selector"] ?? values["field_selector"], "\(key).selector",
                "give name (one object's field) or selectors (a count), not both")
        }
        if name != nil, values["field"] == nil {
            throw reader.error(node, "\(key).field", "with name, say which field to compare, e.g. status.readyReplicas")
        }
        if name == nil, values["field"] != nil {
            throw reader.error(
                values["field"], "\(key).field", "field needs name (without it the probe counts objects)")
        }
        let readyOnly = try values["ready"].map { try reader.boolean($0, "\(key).ready") } ?? false
        if readyOnly, resource != .pods || name != nil {
            throw reader.error(
                values["ready"], "\(key).ready", "ready counts pods: use it with resource: pods and a selector")
        }
        // An empty kubeconfig (an unset `${VAR:-}`) means the default, as for the k8s faults.
        let kubeconfig = try text("kubeconfig").flatMap { path -> String? in
            if path.isEmpty { return nil }
            return path.hasPrefix("/") ? path : suiteDirectory.appending(path: path).standardizedFileURL.path
        }
        return KubeProbeSpec(
            source: ClusterSource(kubeconfig: kubeconfig, context: try text("context")).pinned(),
            resource: resource, namespace: try text("namespace"), name: name, field: try text("field") ?? "",
            selector: selector, fieldSelector: fieldSelector, readyOnly: readyOnly, expect: expect,
            timeout: try reader.positiveDuration(values["timeout"], "\(key).timeout", default: .seconds(5))
        )
    }

    private func slo(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> SLOSpec {
        let values = try reader.mapping(node, at: key, allowed: Self.sloKeys)
        func duration(_ name: String) throws -> Duration? {
            try values[name].map { try reader.duration($0, "\(key).\(name)") }
        }
        var latency: [(Double, Duration)] = []
        for (name, percentile) in [("latency_p50", 50.0), ("latency_p95", 95.0), ("latency_p99", 99.0)] {
            if let ceiling = try duration(name) { latency.append((percentile, ceiling)) }
        }
        let ratio = try values["min_success_ratio"].map { node in
            let text = try reader.string(node, "\(key).min_success_ratio")
            let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
            guard let value, (0...1).contains(value) else {
                throw reader.error(
                    node, "\(key).min_success_ratio", "'\(text)' is not a share from 0 to 1 (or 0% to 100%)")
            }
            return value
        }
        return SLOSpec(
            maxDowntime: try duration("max_downtime"),
            minSuccessRatio: ratio,
            latency: latency,
            maxConsecutiveFailures: try values["max_consecutive_failures"].map {
                try reader.integer($0, "\(key).max_consecutive_failures", in: 0...1_000_000)
            },
            recoverWithin: try duration("recover_within"),
            abortOnBreach: try values["abort_on_breach"].map { try reader.boolean($0, "\(key).abort_on_breach") }
                ?? false
        )
    }

    private func statusRange(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> ClosedRange<Int> {
        let text = try reader.string(node, key)
        let bounds = text.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        if bounds.count == 1, let code = bounds[0], (100...599).contains(code) { return code...code }
        if bounds.count == 2, let low = bounds[0], let high = bounds[1], 100 <= low, low <= high, high <= 599 {
            return low...high
        }
        throw reader.error(node, key, "'\(text)' is not a status code (100-599) or a range such as 200-299")
    }
}

extension ChecksReader {
    func regex(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> String {
        let pattern = try reader.string(node, key)
        do {
            _ = try NSRegularExpression(pattern: pattern)
        } catch {
            throw reader.error(node, key, "'\(pattern)' is not a valid regular expression")
        }
        return pattern
    }
}
