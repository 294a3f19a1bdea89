import AsyncHTTPClient
import EbbCore
import Foundation
import NIOCore
import Synchronization

/// Scrapes one `/metrics` endpoint at the start of the scenario, every `interval` while it
/// runs, and at its end, and holds the metric's sum (over matching series) to the assertion.
final class ScrapeWatch: Sendable {
    /// Expositions larger than this are refused rather than read into memory.
    static let sizeLimit = 16 * 1024 * 1024

    let assertion: ScrapeAssertion
    private let client: HTTPClient
    /// Resolved once per scenario; never part of any message.
    private let token: String?
    private let secrets: Secrets
    private let anchor: ClockAnchor
    private let clock = ContinuousClock()

    private struct State {
        /// Each successful scrape: the matching series by their label sets.
        var scrapes: [(at: ContinuousClock.Instant, series: [String: Double])] = []
        var errors: [String] = []
        var loop: Task<Void, Never>?
    }

    private let state = Mutex(State())

    init(assertion: ScrapeAssertion, client: HTTPClient, token: String?, secrets: Secrets, anchor: ClockAnchor) {
        self.assertion = assertion
        self.client = client
        self.token = token
        self.secrets = secrets
        self.anchor = anchor
    }

    /// Takes the baseline and starts the periodic scrapes.
    func start() async {
        await scrape()
        let interval = assertion.interval
        let loop = Task { [self] in
            let origin = clock.now
            var tick = 1
            while !Task.isCancelled {
                do { try await Task.sleep(until: origin + interval * tick, clock: clock) } catch { return }
                tick += 1
                await scrape()
            }
        }
        state.withLock { $0.loop = loop }
    }

    /// Takes the last scrape and returns the verdict.
    func finish(interrupted: Bool) async -> StepResult {
        let loop = state.withLock { $0.loop }
        loop?.cancel()
        await loop?.value
        let stepName = "telemetry: \(assertion.name)"
        guard !interrupted else {
            return StepResult(kind: .telemetry, name: stepName, status: .skipped, message: "the run was interrupted")
        }
        await scrape()
        if Task.isCancelled {
            return StepResult(kind: .telemetry, name: stepName, status: .skipped, message: "the run was interrupted")
        }
        let (scrapes, errors) = state.withLock { ($0.scrapes, $0.errors) }
        let started = scrapes.first.map { anchor.date($0.at) } ?? Date()
        let span = (scrapes.last?.at).flatMap { last in scrapes.first.map { last - $0.at } } ?? .zero
        let properties = [
            "url": assertion.url.absoluteString, "metric": assertion.metric, "scrapes": String(scrapes.count),
            "failedScrapes": String(errors.count),
        ]
        let selector =
            assertion.metric
            + (assertion.labels.isEmpty
                ? ""
                : "{"
                    + assertion.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(
                        separator: ",") + "}")
        func error(_ message: String) -> StepResult {
            StepResult(
                kind: .telemetry, name: stepName, status: .error, message: message, startedAt: started, duration: span,
                properties: properties)
        }
        // Too little seen is an error, never a pass: a typo in a name or a label would
        // otherwise read as "no errors counted".
        guard scrapes.count >= 2 else {
            return error(
                "only \(scrapes.count) of \(scrapes.count + errors.count) scrapes of \(assertion.url.absoluteString) succeeded; need the first and the last"
                    + (errors.first.map { ": \($0)" } ?? ""))
        }
        guard scrapes.contains(where: { !$0.series.isEmpty }) else {
            return error(
                "no series of \(selector) in any scrape of \(assertion.url.absoluteString); check the metric name and labels"
            )
        }
        let missed = errors.isEmpty ? "" : "; \(errors.count) scrape(s) failed, first: \(errors[0])"
        let sums = scrapes.map { $0.series.values.reduce(0, +) }
        let series = CheckSeries(
            unit: "",
            points: zip(scrapes, sums).map { CheckSeries.Point(at: anchor.date($0.0.at), ok: true, value: $0.1) })
        switch assertion.measure {
        case .increase(let comparison):
            let increase = Self.increase(scrapes.map(\.series))
            let passed = comparison.holds(for: increase)
            return StepResult(
                kind: .telemetry, name: stepName, status: passed ? .passed : .failed,
                message:
                    "\(selector) increased by \(Comparison.format(increase)) (from \(Comparison.format(sums[0])) to \(Comparison.format(sums[sums.count - 1])); limit \(comparison))\(missed)",
                startedAt: started, duration: span, properties: properties,
                measured: Comparison.format(increase), limit: comparison.description, series: series)
        case .value(let comparison):
            let last = sums[sums.count - 1]
            let violation = sums.first { !comparison.holds(for: $0) }
            let measured = violation ?? last
            return StepResult(
                kind: .telemetry, name: stepName, status: violation == nil ? .passed : .failed,
                message: violation == nil
                    ? "\(selector) stayed \(comparison) over \(sums.count) scrapes (last \(Comparison.format(last)))\(missed)"
                    : "\(selector) was \(Comparison.format(measured)), not \(comparison)\(missed)",
                startedAt: started, duration: span, properties: properties,
                measured: Comparison.format(measured), limit: comparison.description, series: series)
        }
    }

    /// A counter's growth over the scrapes, per series: a drop means that series was reset
    /// (its process restarted) and counts from zero again; a series that appears after the
    /// first scrape counted all of its value during the scenario.
    static func increase(_ scrapes: [[String: Double]]) -> Double {
        var previous = scrapes.first ?? [:]
        var total = 0.0
        for scrape in scrapes.dropFirst() {
            for (series, value) in scrape {
                if let before = previous[series] {
                    total += value >= before ? value - before : value
                } else {
                    total += value
                }
                previous[series] = value
            }
        }
        return total
    }

    private func scrape() async {
        let at = clock.now
        do {
            let (status, body) = try await HTTPExchange.perform(
                HTTPClientRequest(url: assertion.url.absoluteString), client: client, token: token,
                timeout: assertion.timeout, bodyLimit: Self.sizeLimit, oversize: .refuse)
            guard status == 200 else { throw ScrapeFailure(description: "HTTP \(status)") }
            let samples = try Exposition.parse(String(buffer: body)).filter { sample in
                sample.name == assertion.metric && assertion.labels.allSatisfy { sample.labels[$0.key] == $0.value }
            }
            if samples.isEmpty, case .value = assertion.measure {
                throw ScrapeFailure(description: "no series of \(assertion.metric) matches")
            }
            let series = Dictionary(
                samples.map { sample in
                    (
                        sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                        sample.value
                    )
                }, uniquingKeysWith: +)
            state.withLock { $0.scrapes.append((at, series)) }
        } catch {
            // A periodic scrape cut short by the end of the scenario says nothing about the target.
            if Task.isCancelled { return }
            let text =
                error is ScrapeFailure || error is Exposition.SyntaxError
                ? "\(error)" : HTTPProbe.describe(error, redacting: secrets)
            state.withLock { $0.errors.append(text) }
        }
    }

    struct ScrapeFailure: Error, CustomStringConvertible {
        var description: String
    }
}
