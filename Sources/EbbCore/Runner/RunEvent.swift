import Foundation

/// What happens during a run, as it happens; console and live reporters subscribe to these.
public enum RunEvent: Sendable {
    case runStarted(runID: String, journal: URL)
    /// `pid` is on `host` for a fixture of `hosts:` (nil: the runner's machine).
    case fixtureReady(name: String, pid: Int32, host: String?)
    case scenarioStarted(suite: String, name: String, faults: Int, duration: Duration)
    case holding(scenario: String, duration: Duration)
    /// A check with `abort_on_breach` ended the hold early.
    case holdEnded(scenario: String, reason: String)
    case step(scenario: String, StepResult)
    case rollingBack(scenario: String, faults: Int)
    case scenarioFinished(ScenarioResult)
    case signal(Int32, duringRollback: Bool)
    case runFinished(RunResult)
}
