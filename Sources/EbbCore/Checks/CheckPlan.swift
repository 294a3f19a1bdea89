import Foundation
import Logging
import Yams

/// The `checks:` and `telemetry:` sections of one file: the suite itself or a file it includes.
public struct CheckSections {
    public var checks: Node?
    public var telemetry: Node?
    /// Reports errors against this file.
    public var reader: YAMLNodeReader
    /// Relative paths in these sections are relative to this folder.
    public var directory: URL
    /// The suite's `hosts:`, which a check may run on (`host:`).
    public var hosts: [RemoteHost] = []

    public init(checks: Node?, telemetry: Node?, reader: YAMLNodeReader, directory: URL) {
        self.checks = checks
        self.telemetry = telemetry
        self.reader = reader
        self.directory = directory
    }
}

/// Reads a suite's `checks:` and `telemetry:` sections. EbbChecks implements it, so that Core
/// knows nothing of probes, HTTP clients or Prometheus.
public protocol CheckSectionReader: Sendable {
    /// Reads the sections of the suite and of the files it includes, in that order, and throws
    /// ``SuiteError`` or ``SuiteErrors`` naming file, line, column and key for every problem.
    func read(_ sections: [CheckSections]) throws -> any CheckPlan
    /// JSON Schemas of the `checks:` list and the `telemetry:` mapping, plus the definitions
    /// they refer to with `#/$defs/...`; part of `ebb schema`.
    var schema: (checks: JSONValue, telemetry: JSONValue, definitions: [String: JSONValue]) { get }
}

/// A suite's checks and telemetry assertions, ready to watch its scenarios.
public protocol CheckPlan: Sendable {
    /// The names a scenario may pick with its own `checks:` list.
    var names: [String] { get }
    /// One line per check or assertion, for `ebb run --dry-run`.
    var outline: [String] { get }
    /// A watch over one scenario; `selected` are the names it picked (nil: all of them).
    func watch(scenario: String, selected: [String]?, logger: Logger) -> any ScenarioWatch
    /// Makes what the checks will need (HTTP clients and their event loops) ahead of the first
    /// check, on a thread of its own, while the runner writes its journal.
    func prepare()
    /// Releases what the checks hold (HTTP clients, event loops) once the run is over.
    func shutdown() async
}

/// Observes the system under test around one scenario's faults.
public protocol ScenarioWatch: Sendable {
    /// Steady-state checks before injection, as `preflight` steps; a step that did not pass
    /// means the scenario must not be injected (the run is inconclusive).
    func steadyState() async -> [StepResult]
    /// Starts sampling as the faults go in. `breach` is called at most once, when an SLO marked
    /// `abort_on_breach` is breached; the runner then ends the hold and rolls back at once.
    func faultsStarting(breach: @escaping @Sendable (String) -> Void) async
    /// Once rollback is over: recovery, `after` checks, SLO verdicts and telemetry assertions.
    /// With `interrupted`, sampling stops and the steps say why they were not evaluated.
    func faultsRolledBack(interrupted: Bool) async -> [StepResult]
}
