import AsyncHTTPClient
import EbbCore
import Foundation
import NIOCore

/// Scrapes one `/metrics` endpoint at the start of the scenario, every `interval` while it
/// runs, and at its end, and holds the metric's sum (over matching series) to the assertion.
final class ScrapeWatch: @unchecked Sendable {
    /// Expositions larger than this are refused rather than read into memory.
    static let sizeLimit = 16 * 1024 * 1024

    let assertion: ScrapeAssertion
    private let client: HTTPClient
    private let anchor: ClockAnchor
    private let clock = ContinuousClock()
    private let lock = NSLock()
    private var values: [(at: ContinuousClock.Instant, value: Double)] = []
    private var errors: [String] = []
    private var loop: Task<Void, Never>?

    init(assertion: ScrapeAssertion, client: HTTPClient, anchor: ClockAnchor) {
        self.assertion = assertion
        self.client = client
        self.anchor = anchor
    }

    /// Takes the baseline and starts the periodic scrapes.
    func start() async {
        await scrape()
        let interval = assertion.interval
        loop = Task { [self] in
            let origin = clock.now
            var tick = 1
            while !Task.isCancelled {
                do { try await Task.sleep(until: origin + interval * tick, clock: clock) } catch { return }
                tick += 1
                await scrape()
            }
        }
    }

    /// Takes the last scrape and returns the verdict.
    func finish(interrupted: Bool) async -> StepResult {
        loop?.cancel()
        await loop?.value
        let stepName = "telemetry: \(assertion.name)"
        guard !interrupted else { return StepResult(kind: .telemetry, name: stepName, status: .skipped, message: "the run was interrupted") }
        await scrape()
        if Task.isCancelled { return StepResult(kind: .telemetry, name: stepName, status: .skipped, message: "the run was interrupted") }
        let (values, errors) = lock.withLock { (self.values, self.errors) }
        let started = values.first.map { anchor.date($0.at) } ?? Date()
        let span = (values.last?.at).flatMap { last in values.first.map { last - $0.at } } ?? .zero
        let properties = ["url": assertion.url.absoluteString, "metric": assertion.metric, "scrapes": String(values.count),
                          "failedScrapes": String(errors.count)]
        guard let first = values.first?.value, let last = values.last?.value else {
            let reason = errors.first ?? "no scrape was taken"
            return StepResult(kind: .telemetry, name: stepName, status: .error,
                              message: "cannot scrape \(assertion.url.absoluteString): \(reason)", startedAt: started, duration: span, properties: properties)
        }
        let scraped = values.map(\.value)
        let missed = errors.isEmpty ? "" : "; \(errors.count) scrape(s) failed, first: \(errors[0])"
        let selector = assertion.metric + (assertion.labels.isEmpty ? "" : "{" + assertion.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}")
        switch assertion.measure {
        case .increase(let comparison):
            // A drop means the counter was reset (the target restarted): count from zero again.
            var increase = 0.0
            for (previous, next) in zip(scraped, scraped.dropFirst()) { increase += next >= previous ? next - previous : next }
            let passed = comparison.holds(for: increase)
            return StepResult(kind: .telemetry, name: stepName, status: passed ? .passed : .failed,
                              message: "\(selector) increased by \(Comparison.format(increase)) (from \(Comparison.format(first)) to \(Comparison.format(last)); limit \(comparison))\(missed)",
                              startedAt: started, duration: span, properties: properties,
                              measured: Comparison.format(increase), limit: comparison.description)
        case .value(let comparison):
            let violation = scraped.first { !comparison.holds(for: $0) }
            let measured = violation ?? last
            return StepResult(kind: .telemetry, name: stepName, status: violation == nil ? .passed : .failed,
                              message: violation == nil
                                ? "\(selector) stayed \(comparison) over \(scraped.count) scrapes (last \(Comparison.format(last)))\(missed)"
                                : "\(selector) was \(Comparison.format(measured)), not \(comparison)\(missed)",
                              startedAt: started, duration: span, properties: properties,
                              measured: Comparison.format(measured), limit: comparison.description)
        }
    }

    private func scrape() async {
        let at = clock.now
        do {
            let response = try await client.execute(HTTPClientRequest(url: assertion.url.absoluteString), timeout: TimeAmount(assertion.timeout))
            guard response.status == .ok else { throw ScrapeFailure(description: "HTTP \(response.status.code)") }
            let body = try await response.body.collect(upTo: Self.sizeLimit)
            let samples = try Exposition.parse(String(buffer: body)).filter { sample in
                sample.name == assertion.metric && assertion.labels.allSatisfy { sample.labels[$0.key] == $0.value }
            }
            if samples.isEmpty, case .value = assertion.measure {
                throw ScrapeFailure(description: "no series of \(assertion.metric) matches")
            }
            // An absent counter has not counted anything yet (client libraries create them lazily).
            let sum = samples.reduce(0) { $0 + $1.value }
            lock.withLock { values.append((at, sum)) }
        } catch {
            // A periodic scrape cut short by the end of the scenario says nothing about the target.
            if Task.isCancelled { return }
            let text = error is ScrapeFailure || error is Exposition.SyntaxError ? "\(error)" : HTTPProbe.describe(error)
            lock.withLock { errors.append(text) }
        }
    }

    struct ScrapeFailure: Error, CustomStringConvertible {
        var description: String
    }
}
