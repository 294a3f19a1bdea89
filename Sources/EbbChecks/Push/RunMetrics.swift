import AsyncHTTPClient
import EbbCore
import Foundation
import NIOCore
import NIOPosix
import Prometheus

/// A run's results as Prometheus metrics, pushed to a Pushgateway under job `ebb` so that
/// nightly resilience jobs can be graphed and alerted on like any batch job.
public struct RunMetrics: Sendable {
    public struct PushFailure: Error, CustomStringConvertible {
        public var description: String
    }

    let result: RunResult
    let suites: [String]

    public init(result: RunResult, suites: [String]) {
        self.result = result
        self.suites = suites
    }

    /// The metrics in the Prometheus text format.
    public var exposition: String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ metric: String, _ unit: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "ebb", metricName: metric, unitName: unit, helpText: help),
                labels: labels)
        }
        gauge(
            "run_exit", "code", "Exit code of the last ebb run (0 passed, 1 checks failed, 2 rollback incomplete, ...)."
        )
        .set(Double(result.exitStatus.rawValue))
        gauge("run_duration", "seconds", "Wall time of the last ebb run.").set(result.duration.seconds)
        gauge("run_last_completion_timestamp", "seconds", "When the last ebb run finished (Unix time).").set(
            Date().timeIntervalSince1970)
        for scenario in result.scenarios {
            let labels = [("suite", scenario.suite), ("scenario", scenario.name)]
            let states = scenario.rollbacks.map(\.record.state)
            let passed = scenario.status == .passed && !scenario.interrupted
            gauge("scenario", "passed", "1 when the scenario passed, else 0.", labels).set(passed ? 1.0 : 0.0)
            gauge("faults", "injected", "Faults injected by the scenario.", labels)
                .set(Double(scenario.steps.filter { $0.kind == .inject && $0.status == .passed }.count))
            gauge("faults", "reverted", "Faults whose undo ran and verified.", labels).set(
                Double(states.filter { $0 == .reverted }.count))
            gauge("faults_revert", "failed", "Faults that could not be verified reverted.", labels).set(
                Double(states.filter(\.isPending).count))
            for rollback in scenario.rollbacks {
                gauge(
                    "rollback_duration", "seconds", "Time from the start of a fault's undo to its verified revert.",
                    labels + [("fault", rollback.record.fault)]
                ).set(rollback.duration.seconds)
            }
            for step in scenario.steps where step.isCheck && step.status != .skipped {
                gauge(
                    "check", "passed",
                    "1 when a check, SLO or telemetry assertion passed, else 0 (skipped ones are left out).",
                    labels + [("check", step.name)]
                ).set(step.status == .passed ? 1.0 : 0.0)
            }
        }
        return registry.emitToString()
    }

    /// Replaces the `ebb` job's metrics on the Pushgateway at `gateway`.
    public func push(to gateway: URL) async throws {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            var request = HTTPClientRequest(url: gateway.appending(path: "metrics/job/ebb").absoluteString)
            request.method = .PUT
            request.headers.add(name: "Content-Type", value: "text/plain; version=0.0.4")
            request.body = .bytes(ByteBuffer(string: exposition))
            let (status, body) = try await HTTPExchange.perform(
                request, client: client, token: nil, timeout: .seconds(10),
                bodyLimit: 64 * 1024, oversize: .refuse)
            guard (200...299).contains(Int(status)) else {
                throw PushFailure(description: "the Pushgateway answered HTTP \(status): \(String(buffer: body))")
            }
        } catch {
            try? await client.shutdown()
            throw error is PushFailure ? error : PushFailure(description: HTTPProbe.describe(error))
        }
        try await client.shutdown()
    }
}
