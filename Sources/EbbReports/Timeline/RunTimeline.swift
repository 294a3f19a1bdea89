import EbbCore
import Foundation

/// The `timeline` section of `rollback-summary.json` (schema `ebb.timeline/v1`, documented in
/// docs/reference.md): per scenario, when it ran and every check's and metric's samples, bounded by
/// ``Downsampler``. Faults are not repeated here: `faults[]` has their times and fates.
/// `ebb report html --from` draws the report from this section alone.
public struct RunTimeline: Codable, Sendable, Equatable {
    public static let schema = "ebb.timeline/v1"

    /// One check's samples or one metric's scrapes in one scenario.
    public struct Series: Codable, Sendable, Equatable {
        /// The check or assertion name (`api-health`, `api-5xx`).
        public var name: String
        /// The step that carried the samples (`check: api-health (during)`).
        public var step: String
        /// `check` (points are samples, values latencies in seconds) or `telemetry` (scrapes).
        public var kind: String
        /// `s` for latencies in seconds; empty for a metric's own unit.
        public var unit: String
        /// How many points were taken before downsampling.
        public var totalPoints: Int
        /// True when `points` is a subset of them (see ``Downsampler``).
        public var downsampled: Bool
        public var points: [CheckSeries.Point]
        public var ceilings: [CheckSeries.Ceiling]
        /// Every downtime window of the check, never downsampled.
        public var windows: [DowntimeWindow]
        public var rolledBackAt: Date?
        public var recoveredAt: Date?
    }

    public struct Scenario: Codable, Sendable, Equatable {
        public var suite: String
        public var name: String
        public var startedAt: Date
        public var endedAt: Date
        public var series: [Series]
    }

    public var schema = RunTimeline.schema
    /// The most points kept per series; the rule is in ``Downsampler``.
    public var maxPointsPerSeries: Int
    public var scenarios: [Scenario]

    public init(maxPointsPerSeries: Int, scenarios: [Scenario]) {
        self.maxPointsPerSeries = maxPointsPerSeries
        self.scenarios = scenarios
    }

    /// The timeline of a run's results; a recovered run (no results) has scenarios made from
    /// its faults' times alone.
    public init(result: RunResult?, faults: [RollbackSummary.Fault], maxPointsPerSeries: Int = Downsampler.defaultLimit)
    {
        self.maxPointsPerSeries = maxPointsPerSeries
        guard let result else {
            var byName: [String: Scenario] = [:]
            var order: [String] = []
            for fault in faults {
                let end = [fault.armedAt, fault.injectedAt, fault.revertedAt].compactMap { $0 }.max() ?? fault.armedAt
                if var known = byName[fault.scenario] {
                    known.startedAt = min(known.startedAt, fault.armedAt)
                    known.endedAt = max(known.endedAt, end)
                    byName[fault.scenario] = known
                } else {
                    order.append(fault.scenario)
                    byName[fault.scenario] = Scenario(
                        suite: "", name: fault.scenario, startedAt: fault.armedAt, endedAt: end, series: [])
                }
            }
            scenarios = order.compactMap { byName[$0] }
            return
        }
        scenarios = result.scenarios.map { scenario in
            let series = scenario.steps.compactMap { step -> Series? in
                guard let samples = step.series else { return nil }
                let kept = Downsampler.downsample(samples.points, limit: maxPointsPerSeries)
                return Series(
                    name: Self.laneName(step.name), step: step.name,
                    kind: step.kind == .telemetry ? "telemetry" : "check",
                    unit: samples.unit, totalPoints: samples.points.count,
                    downsampled: kept.count < samples.points.count,
                    points: kept, ceilings: samples.ceilings, windows: step.windows,
                    rolledBackAt: samples.rolledBackAt, recoveredAt: samples.recoveredAt)
            }
            return Scenario(
                suite: scenario.suite, name: scenario.name, startedAt: scenario.startedAt,
                endedAt: scenario.startedAt.addingTimeInterval(scenario.duration.seconds), series: series)
        }
    }

    /// `check: api (during)` -> `api`; `telemetry: errors` -> `errors`.
    static func laneName(_ step: String) -> String {
        var name = Substring(step)
        for prefix in ["check: ", "telemetry: "] where name.hasPrefix(prefix) { name = name.dropFirst(prefix.count) }
        if name.hasSuffix(" (during)") { name = name.dropLast(" (during)".count) }
        return String(name)
    }
}
