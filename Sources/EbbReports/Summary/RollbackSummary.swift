import EbbCore
import Foundation

/// The rollback summary: what happened to every fault a run armed, from its journal.
/// Written as `rollback-summary.json` (schema `ebb.rollback-summary/v1`, documented in
/// docs/reference.md) and as Markdown for people and CI step summaries.
public struct RollbackSummary: Codable, Sendable {
    public static let schema = "ebb.rollback-summary/v1"

    /// One fault (or fixture) as its record ends up.
    public struct Fault: Codable, Sendable {
        public var sequence: Int
        public var scenario: String
        public var fault: String
        public var plugin: String
        public var target: String
        public var undoKind: String
        public var armedAt: Date
        public var injectedAt: Date?
        public var revertedAt: Date?
        /// `reverted`, `revert-failed`, `irreversible`, or `pending` (armed or injected, never rolled back).
        public var state: String
        /// True only when the undo ran and its verification passed.
        public var verified: Bool
        /// Why the undo failed, or why the fault is irreversible.
        public var message: String?
        /// Seconds from the start of this fault's undo to its verified revert (nil when unknown).
        public var timeToRecoverSeconds: Double?
        public var revertedBy: String?
    }

    public struct Scenario: Codable, Sendable {
        public var suite: String
        public var name: String
        /// `passed`, `failed`, `rollback-failed`, `inconclusive`, `interrupted` or `not-run`.
        public var outcome: String
    }

    /// One check, SLO or telemetry assertion of a scenario, with what it measured.
    public struct Check: Codable, Sendable {
        public var suite: String
        public var scenario: String
        /// The step name, e.g. `check: api max_downtime`, `recovery: api`, `telemetry: errors`.
        public var name: String
        /// `check`, `recovery`, `telemetry`, or `preflight` for a steady-state check.
        public var kind: String
        /// `passed`, `failed`, `error` or `skipped`.
        public var status: String
        public var measured: String?
        public var limit: String?
        public var message: String?
        public var windows: [DowntimeWindow]
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var faults = 0
        public var reverted = 0
        public var revertFailed = 0
        public var irreversible = 0
        public var pending = 0
        /// Journal files that could not be read; never skipped silently.
        public var damaged = 0
    }

    public var schema = RollbackSummary.schema
    public var runID: String
    public var journal: String
    public var host: String?
    public var startedAt: Date?
    public var writtenAt: Date
    /// Who took the faults back: `runner`, `rollback execute`, ...
    public var recoveredBy: String?
    public var signal: String?
    public var exitCode: Int32
    public var exitMeaning: String
    public var totals: Totals
    public var scenarios: [Scenario]
    public var faults: [Fault]
    /// Every check and telemetry assertion of the run, in order.
    public var checks: [Check]
    public var damaged: [String]
    /// When things happened: every check's samples and every metric's scrapes per scenario,
    /// bounded (schema `ebb.timeline/v1`, docs/reference.md "The timeline section"). Absent in summaries
    /// written before it existed.
    public var timeline: RunTimeline?

    /// Builds the summary of `run` from its journal records, with the scenario outcomes of
    /// `result` when the runner is the one writing it.
    public init(
        run: RunSnapshot, result: RunResult?, exitStatus: ExitStatus, recoveredBy: String? = nil,
        recoveryDurations: [Int: Duration] = [:]
    ) {
        var durations = recoveryDurations
        for rollback in (result?.scenarios.flatMap(\.rollbacks) ?? []) + (result?.setupRollbacks ?? []) {
            durations[rollback.record.sequence] = rollback.duration
        }
        runID = run.id
        journal = run.directory.path
        host = run.info?.host
        startedAt = run.info?.startedAt
        writtenAt = Date()
        self.recoveredBy = recoveredBy
        signal = result?.signal.map(SignalTrap.name(of:))
        exitCode = exitStatus.rawValue
        exitMeaning = exitStatus.meaning
        faults = run.records.sorted { $0.sequence < $1.sequence }.map {
            Self.fault($0, duration: durations[$0.sequence])
        }
        damaged = run.damaged.map { "\($0.path): \($0.problem)" } + (run.problem.map { ["run.json: \($0)"] } ?? [])
        totals = Self.totals(faults, damaged: damaged)
        scenarios = (result?.scenarios ?? []).map { scenario in
            Scenario(suite: scenario.suite, name: scenario.name, outcome: Self.outcome(scenario))
        }
        checks = (result?.scenarios ?? []).flatMap { scenario in
            scenario.steps.filter(\.isCheck).map { step in
                Check(
                    suite: scenario.suite, scenario: scenario.name, name: step.name, kind: step.kind.rawValue,
                    status: step.status.rawValue, measured: step.measured, limit: step.limit, message: step.message,
                    windows: step.windows)
            }
        }
        timeline = RunTimeline(result: result, faults: faults)
    }

    /// One record as the summary shows it.
    static func fault(_ record: UndoRecord, duration: Duration?) -> Fault {
        Fault(
            sequence: record.sequence, scenario: record.scenario, fault: record.fault, plugin: record.plugin,
            target: record.target, undoKind: record.kind, armedAt: record.armedAt, injectedAt: record.injectedAt,
            revertedAt: record.state == .reverted ? record.finishedAt : nil,
            state: record.state.isPending && record.state != .revertFailed ? "pending" : record.state.rawValue,
            verified: record.state == .reverted, message: record.message,
            timeToRecoverSeconds: duration.map { ($0.seconds * 1000).rounded() / 1000 },
            revertedBy: record.revertedBy)
    }

    static func totals(_ faults: [Fault], damaged: [String]) -> Totals {
        var totals = Totals()
        for fault in faults {
            totals.faults += 1
            switch fault.state {
            case "reverted": totals.reverted += 1
            case "revert-failed": totals.revertFailed += 1
            case "irreversible": totals.irreversible += 1
            default: totals.pending += 1
            }
        }
        totals.damaged = damaged.count
        return totals
    }

    static func outcome(_ scenario: ScenarioResult) -> String {
        if scenario.steps.allSatisfy({ $0.kind == .preflight && $0.status != .passed }) && !scenario.steps.isEmpty {
            return scenario.interrupted ? "not-run" : "inconclusive"
        }
        switch scenario.status {
        case .rollbackIncomplete: return "rollback-failed"
        case .checksFailed: return "failed"
        case .inconclusive: return "inconclusive"
        default: return scenario.interrupted ? "interrupted" : "passed"
        }
    }

    /// The summary as pretty JSON with ISO 8601 dates.
    public func json() throws -> Data {
        try JSONEncoder.journal.encode(self)
    }
}
