import Foundation

/// A suite's telemetry assertions: scraped `/metrics` endpoints and Prometheus queries.
struct TelemetryDefinition: Sendable {
    var scrapes: [ScrapeAssertion] = []
    var prometheus: PrometheusServer?
    var queries: [QueryAssertion] = []
    var alerts: [AlertRule] = []

    var isEmpty: Bool { scrapes.isEmpty && queries.isEmpty && alerts.isEmpty }
}

/// Reads a Prometheus text-format endpoint directly (no server needed) at the start and end of
/// the scenario, and every `interval` in between.
struct ScrapeAssertion: Sendable {
    enum Measure: Sendable {
        /// The counter's growth from the first to the last scrape (resets handled).
        case increase(Comparison)
        /// The gauge's value on every scrape.
        case value(Comparison)
    }
    var name: String
    var url: URL
    var metric: String
    /// Label values a series must carry to count; matching series are summed.
    var labels: [String: String]
    var measure: Measure
    var interval: Duration
    var timeout: Duration
    var bearerTokenVariable: String?
    var verifiesTLS: Bool
}

/// Where the Prometheus HTTP API answers.
struct PrometheusServer: Sendable {
    var url: URL
    var bearerTokenVariable: String?
    var verifiesTLS: Bool
    var timeout: Duration
    /// How long to wait after the scenario before querying, so that Prometheus has stored the
    /// scrapes of its last seconds (about one scrape interval).
    var settle: Duration
}

/// A PromQL query over the scenario window, reduced to one number and compared.
struct QueryAssertion: Sendable {
    enum Reduction: String, Sendable, CaseIterable {
        case max, min, avg, last
    }
    var name: String
    var query: String
    /// True: a range query over the scenario window; false: an instant query at its end.
    var range: Bool
    var step: Duration?
    var reduction: Reduction
    var expectation: Comparison
}

/// A Krkn-compatible alert: fires when `expr` returns any sample over the scenario window.
struct AlertRule: Sendable {
    enum Severity: String, Sendable, CaseIterable {
        case info, warning, error, critical

        /// Whether a firing alert of this severity fails the scenario.
        var fails: Bool { self == .error || self == .critical }
    }
    var name: String
    var expression: String
    var description: String
    var severity: Severity
}
