import EbbCore
import Foundation
import Logging
import Synchronization

/// Watches one scenario with the checks and telemetry assertions it selected.
final class ScenarioChecks: ScenarioWatch {
    private let checks: [CheckWatch]
    private let scrapes: [ScrapeWatch]
    /// Scrape assertions that could not be set up (an unset token), reported as errors.
    private let scrapeProblems: [StepResult]
    private let queries: [QueryAssertion]
    private let alerts: [AlertRule]
    private let api: Result<PrometheusAPI, any Error>?
    private let liveSince = Mutex<Date?>(nil)

    init(
        checks: [CheckWatch], scrapes: [ScrapeWatch], scrapeProblems: [StepResult], queries: [QueryAssertion],
        alerts: [AlertRule],
        api: Result<PrometheusAPI, any Error>?
    ) {
        self.checks = checks
        self.scrapes = scrapes
        self.scrapeProblems = scrapeProblems
        self.queries = queries
        self.alerts = alerts
        self.api = api
    }

    func steadyState() async -> [StepResult] {
        // All checks sample at once, so a suite with many checks does not wait for each in turn.
        await inOrder(checks) { await $0.steadyState() }.compactMap { $0 }
    }

    func faultsStarting(breach: @escaping @Sendable (String) -> Void) async {
        liveSince.withLock { $0 = Date() }
        for check in checks { check.faultsStarting(breach: breach) }
        _ = await inOrder(scrapes) { await $0.start() }
    }

    func faultsRolledBack(interrupted: Bool) async -> [StepResult] {
        let start = liveSince.withLock { $0 } ?? Date()
        async let checkSteps = inOrder(checks) { await $0.faultsRolledBack(interrupted: interrupted) }
        async let scrapeSteps = inOrder(scrapes) { await $0.finish(interrupted: interrupted) }
        var steps = await checkSteps.flatMap { $0 } + scrapeSteps + scrapeProblems
        let names = queries.map(\.name) + alerts.map(\.name)
        guard !names.isEmpty else { return steps }
        let skipped = names.map {
            StepResult(kind: .telemetry, name: "telemetry: \($0)", status: .skipped, message: "the run was interrupted")
        }
        guard !interrupted && !Task.isCancelled else { return steps + skipped }
        switch api {
        case .success(let api):
            let end = Date()
            // Let Prometheus store the scrapes of the window's last seconds before asking.
            do { try await Task.sleep(for: api.server.settle) } catch { return steps + skipped }
            let evaluation = QueryEvaluation(api: api, start: start, end: end)
            steps += await inOrder(queries) { await evaluation.evaluate($0) }
            steps += await inOrder(alerts) { await evaluation.evaluate($0) }
        case .failure(let error):
            steps += names.map {
                StepResult(kind: .telemetry, name: "telemetry: \($0)", status: .error, message: "\(error)")
            }
        case nil:
            break
        }
        return steps
    }

    /// Runs `body` for every element concurrently and returns the results in element order.
    private func inOrder<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) async -> Result
    ) async -> [Result] {
        await withTaskGroup(of: (Int, Result).self) { group in
            for (index, element) in elements.enumerated() {
                group.addTask { (index, await body(element)) }
            }
            var results: [(Int, Result)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
