import EbbCore
import Foundation

/// Evaluates PromQL assertions and Krkn-style alerts over a scenario's window.
struct QueryEvaluation {
    let api: PrometheusAPI
    let start: Date
    let end: Date

    /// Range queries default to about 250 points over the window, never finer than a second.
    var defaultStep: Duration {
        .milliseconds(max(1000, Int64(end.timeIntervalSince(start) * 1000 / 250)))
    }

    func evaluate(_ assertion: QueryAssertion) async -> StepResult {
        let stepName = "telemetry: \(assertion.name)"
        let properties = ["query": assertion.query, "window": "\(UTCTime.string(start)) .. \(UTCTime.string(end))"]
        let series: [PrometheusAPI.Series]
        do {
            series =
                assertion.range
                ? try await api.range(assertion.query, from: start, to: end, step: assertion.step ?? defaultStep)
                : try await api.instant(assertion.query, at: end)
        } catch {
            return StepResult(
                kind: .telemetry, name: stepName, status: .error, message: "\(error)", startedAt: start,
                properties: properties)
        }
        let values = series.flatMap(\.values).filter { !$0.isNaN }
        guard let reduced = reduce(values, assertion.reduction, lastPerSeries: series.compactMap(\.values.last)) else {
            return StepResult(
                kind: .telemetry, name: stepName, status: .failed,
                message: "the query returned no samples over the scenario window (limit \(assertion.expectation))",
                startedAt: start, properties: properties, measured: "no data", limit: assertion.expectation.description)
        }
        let passed = assertion.expectation.holds(for: reduced)
        let measured = Comparison.format(reduced)
        return StepResult(
            kind: .telemetry, name: stepName, status: passed ? .passed : .failed,
            message:
                "\(assertion.reduction.rawValue) of \(series.count) series = \(measured) (limit \(assertion.expectation))",
            startedAt: start, duration: .seconds(end.timeIntervalSince(start)), properties: properties,
            measured: measured, limit: assertion.expectation.description)
    }

    /// An alert fires when its expression returns any sample in the window (as in Krkn).
    /// Severities `error` and `critical` fail the scenario; `warning` and `info` are reported.
    func evaluate(_ alert: AlertRule) async -> StepResult {
        let stepName = "telemetry: \(alert.name)"
        var properties = ["expr": alert.expression, "severity": alert.severity.rawValue]
        if !alert.description.isEmpty { properties["description"] = alert.description }
        let series: [PrometheusAPI.Series]
        do {
            series = try await api.range(alert.expression, from: start, to: end, step: defaultStep)
        } catch {
            return StepResult(
                kind: .telemetry, name: stepName, status: .error, message: "\(error)", startedAt: start,
                properties: properties)
        }
        let values = series.flatMap(\.values)
        guard let peak = values.filter({ !$0.isNaN }).max() ?? values.first else {
            return StepResult(
                kind: .telemetry, name: stepName, status: .passed, message: "did not fire (\(alert.severity.rawValue))",
                startedAt: start, duration: .seconds(end.timeIntervalSince(start)), properties: properties,
                measured: "not firing", limit: "not firing")
        }
        let text = alert.description.replacingOccurrences(of: "{{$value}}", with: Comparison.format(peak))
        let message =
            "fired (\(alert.severity.rawValue)) in \(series.count) series: \(text.isEmpty ? alert.expression : text)"
        return StepResult(
            kind: .telemetry, name: stepName, status: alert.severity.fails ? .failed : .passed,
            message: alert.severity.fails
                ? message : message + "; reported only, \(alert.severity.rawValue) does not fail the scenario",
            startedAt: start, duration: .seconds(end.timeIntervalSince(start)), properties: properties,
            measured: "firing", limit: "not firing")
    }

    private func reduce(_ values: [Double], _ reduction: QueryAssertion.Reduction, lastPerSeries: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        switch reduction {
        case .max: return values.max()
        case .min: return values.min()
        case .avg: return values.reduce(0, +) / Double(values.count)
        case .last: return lastPerSeries.max()
        }
    }
}
