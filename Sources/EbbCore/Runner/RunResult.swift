import Foundation

/// The outcome of one step of a scenario (a JUnit testcase).
public struct StepResult: Sendable {
    public enum Kind: String, Sendable {
        case preflight, inject, check, telemetry, recovery, rollback
    }
    public enum Status: String, Sendable {
        /// A threshold was missed (JUnit `<failure>`).
        case failed
        /// A tool or system error (JUnit `<error>`).
        case error
        case skipped
        case passed
    }

    public var kind: Kind
    /// `preflight`, `inject: <fault>`, `rollback: <fault>`, ...
    public var name: String
    public var status: Status
    public var message: String?
    public var startedAt: Date
    public var duration: Duration
    /// Facts for reports: target, parameters, record path, final state.
    public var properties: [String: String]
    /// What a check or telemetry assertion measured, as people read it ("1.02s", "97.5%").
    public var measured: String?
    /// The limit it was held to ("<= 500ms"), when it had one.
    public var limit: String?
    /// When the check was failing, for checks that sample over time.
    public var windows: [DowntimeWindow]
    /// Every sample (or scrape) behind the verdict, for timeline reports.
    public var series: CheckSeries?

    public init(
        kind: Kind, name: String, status: Status, message: String? = nil, startedAt: Date = Date(),
        duration: Duration = .zero, properties: [String: String] = [:],
        measured: String? = nil, limit: String? = nil, windows: [DowntimeWindow] = [], series: CheckSeries? = nil
    ) {
        self.kind = kind
        self.name = name
        self.status = status
        self.message = message
        self.startedAt = startedAt
        self.duration = duration
        self.properties = properties
        self.measured = measured
        self.limit = limit
        self.windows = windows
        self.series = series
    }
}

extension StepResult.Status {
    /// The one mapping from a record's final state to its `rollback:` step, used by the runner and
    /// by recovery reports alike: taken back (or nothing can) passes; an undo that ran and did not
    /// verify fails; a record no undo ran for is an error.
    public init(rollbackOf state: RecordState) {
        switch state {
        case .reverted, .irreversible: self = .passed
        case .revertFailed: self = .failed
        case .armed, .injected: self = .error
        }
    }
}

extension StepResult {
    /// The `rollback:` step of one record's rollback: its status from the record's final state
    /// (``Status/init(rollbackOf:)``), or an error when the journal could not record that state,
    /// whatever the undo achieved.
    public init(rollback: RollbackResult, name: String) {
        let record = rollback.record
        let status: Status = rollback.journalProblem == nil ? Status(rollbackOf: record.state) : .error
        var message = record.message
        if let problem = rollback.journalProblem {
            message = [message, problem].compactMap { $0 }.joined(separator: "; ")
        }
        self.init(
            kind: .rollback, name: name, status: status, message: message, startedAt: record.finishedAt ?? Date(),
            duration: rollback.duration,
            properties: [
                "state": record.state.rawValue, "kind": record.kind, "target": record.target,
                "attempts": String(record.attempts), "record": record.fileName,
            ])
    }

    /// Whether the step is a health check, SLO, recovery or telemetry verdict (steady-state
    /// checks are `preflight` steps named `check: ...`).
    public var isCheck: Bool {
        [.check, .telemetry, .recovery].contains(kind) || (kind == .preflight && name.hasPrefix("check: "))
    }
}

/// The outcome of one scenario.
public struct ScenarioResult: Sendable {
    public var suite: String
    public var name: String
    public var startedAt: Date
    public var duration: Duration = .zero
    public var steps: [StepResult] = []
    /// True when the scenario did not finish because the run was interrupted.
    public var interrupted = false
    public var rollbacks: [RollbackResult] = []

    public init(suite: String, name: String, startedAt: Date) {
        self.suite = suite
        self.name = name
        self.startedAt = startedAt
    }

    public var status: ExitStatus {
        var status = ExitStatus.passed
        for step in steps {
            switch (step.kind, step.status) {
            case (.rollback, .failed), (.rollback, .error): status = status.combined(with: .rollbackIncomplete)
            case (.preflight, .failed), (.preflight, .error): status = status.combined(with: .inconclusive)
            case (_, .failed), (_, .error): status = status.combined(with: .checksFailed)
            default: break
            }
        }
        return status
    }
}

/// The outcome of a whole run.
public struct RunResult: Sendable {
    public var runID: String?
    public var journalDirectory: URL?
    public var startedAt: Date
    public var duration: Duration = .zero
    public var scenarios: [ScenarioResult] = []
    /// Fixture (setup) rollbacks, outside any scenario.
    public var setupSteps: [StepResult] = []
    public var setupRollbacks: [RollbackResult] = []
    /// The signal that interrupted the run, if one did.
    public var signal: Int32?
    /// The journal as the runner closed it: the reports start from it instead of reading the
    /// whole journal again.
    public var journalAtClose: RunSnapshot?

    public init(runID: String?, journalDirectory: URL?, startedAt: Date) {
        self.runID = runID
        self.journalDirectory = journalDirectory
        self.startedAt = startedAt
    }

    /// Every undo outcome of the run was made durable in the journal.
    public var outcomesDurable: Bool {
        (scenarios.flatMap(\.rollbacks) + setupRollbacks).allSatisfy { $0.journalProblem == nil }
    }

    public var exitStatus: ExitStatus {
        var status = scenarios.reduce(ExitStatus.passed) { $0.combined(with: $1.status) }
        for step in setupSteps where step.status == .failed || step.status == .error {
            status = status.combined(with: step.kind == .rollback ? .rollbackIncomplete : .inconclusive)
        }
        if let signal { status = status.combined(with: .interrupted(by: signal)) }
        return status
    }
}
