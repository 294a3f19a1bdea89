import EbbCore
import Foundation

/// Secrets are taken out of results before a report formats them: formatting may truncate
/// or escape the text, after which a secret could no longer be found whole.
extension RunResult {
    /// This result with every text a report shows passed through `redactor`.
    public func redacted(by redactor: SecretRedactor) -> RunResult {
        guard !redactor.isEmpty else { return self }
        var result = self
        result.setupSteps = setupSteps.map { $0.redacted(by: redactor) }
        result.scenarios = scenarios.map { $0.redacted(by: redactor) }
        return result
    }
}

extension ScenarioResult {
    /// This scenario with its names and every step redacted.
    public func redacted(by redactor: SecretRedactor) -> ScenarioResult {
        guard !redactor.isEmpty else { return self }
        var scenario = self
        scenario.name = redactor.redact(name)
        scenario.suite = redactor.redact(suite)
        scenario.steps = steps.map { $0.redacted(by: redactor) }
        return scenario
    }
}

extension StepResult {
    /// This step with its name, message, properties, measurements and window causes redacted.
    public func redacted(by redactor: SecretRedactor) -> StepResult {
        var step = self
        step.name = redactor.redact(name)
        step.message = message.map(redactor.redact)
        step.properties = properties.mapValues(redactor.redact)
        step.measured = measured.map(redactor.redact)
        step.limit = limit.map(redactor.redact)
        step.windows = windows.map { window in
            var window = window
            window.seen = window.seen.map(redactor.redact)
            return window
        }
        return step
    }
}

/// Report files are world-readable (0644) unless their text still holds a secret that was
/// too short to redact (see ``SecretRedactor``); then only their owner may read them (0600).
enum ReportMode {
    static func mode(for text: String, redactor: SecretRedactor) -> mode_t {
        redactor.holdsSecret(text) ? 0o600 : 0o644
    }
}
