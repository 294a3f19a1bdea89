import EbbCore
import Foundation
import Logging

/// A suite's health checks and telemetry assertions (the `checks:` and `telemetry:` sections),
/// read by ``ChecksReader``. The runner asks it for a watch over each scenario.
public final class SuiteChecks: CheckPlan, Sendable {
    let checks: [CheckDefinition]
    let telemetry: TelemetryDefinition
    private let clients = HTTPClients()
    private let kubeClients = KubeClients()
    private let secrets: Secrets

    init(checks: [CheckDefinition], telemetry: TelemetryDefinition, secrets: Secrets = Secrets()) {
        self.checks = checks
        self.telemetry = telemetry
        self.secrets = secrets
    }

    public var names: [String] { checks.map(\.name) + telemetry.names }

    public var outline: [String] {
        checks.map { check in
            var line = "check \(check.name): \(check.probe.summary) every \(Format.duration(check.interval)), phases "
            line += CheckPhase.allCases.filter(check.phases.contains).map(\.rawValue).joined(separator: ", ")
            return line
        }
            + telemetry.scrapes.map { "telemetry \($0.name): scrape \($0.metric) from \($0.url.absoluteString)" }
            + telemetry.queries.map {
                "telemetry \($0.name): \($0.range ? "range" : "instant") query \($0.query), expect \($0.expectation)"
            }
            + telemetry.alerts.map { "telemetry \($0.name): alert (\($0.severity.rawValue)) \($0.expression)" }
    }

    public func watch(scenario: String, selected: [String]?, logger: Logger) -> any ScenarioWatch {
        let picked = { (name: String) in selected?.contains(name) ?? true }
        let anchor = ClockAnchor()
        let watches = checks.filter { picked($0.name) }.map { definition in
            CheckWatch(definition: definition, probe: Result { try probe(for: definition.probe) }, anchor: anchor)
        }
        var problems: [StepResult] = []
        let scrapes = telemetry.scrapes.filter { picked($0.name) }.compactMap { assertion -> ScrapeWatch? in
            do {
                return ScrapeWatch(
                    assertion: assertion, client: clients.client(verifyingTLS: assertion.verifiesTLS),
                    token: try assertion.bearerTokenVariable.map(secrets.token(from:)), secrets: secrets, anchor: anchor
                )
            } catch {
                problems.append(
                    StepResult(
                        kind: .telemetry, name: "telemetry: \(assertion.name)", status: .error, message: "\(error)"))
                return nil
            }
        }
        let queries = telemetry.queries.filter { picked($0.name) }
        let alerts = telemetry.alerts.filter { picked($0.name) }
        let api = telemetry.prometheus.map { server in
            Result {
                PrometheusAPI(
                    server: server, client: clients.client(verifyingTLS: server.verifiesTLS),
                    token: try server.bearerTokenVariable.map(secrets.token(from:)), secrets: secrets)
            }
        }
        return ScenarioChecks(
            checks: watches, scrapes: scrapes, scrapeProblems: problems, queries: queries, alerts: alerts,
            api: queries.isEmpty && alerts.isEmpty ? nil : api)
    }

    private func probe(for spec: ProbeSpec) throws -> any Probe {
        switch spec {
        case .http(let spec):
            return HTTPProbe(
                spec: spec, client: clients.client(verifyingTLS: spec.verifiesTLS),
                token: try spec.bearerTokenVariable.map(secrets.token(from:)), secrets: secrets)
        case .tcp(let spec):
            return TCPProbe(spec: spec)
        case .command(let spec):
            return CommandProbe(spec: spec, secrets: secrets)
        case .k8s(let spec):
            return KubeProbe(spec: spec, client: try kubeClients.client(for: spec.source))
        }
    }

    public func prepare() {
        for case .http(let spec) in checks.map(\.probe) {
            _ = clients.client(verifyingTLS: spec.verifiesTLS)
        }
    }

    public func shutdown() async {
        await clients.shutdown()
        await kubeClients.shutdown()
    }
}
