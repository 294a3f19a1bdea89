import Foundation

/// What a check or a scraped metric looked like over time: every sample (or scrape) with its
/// value, for reports that draw the run as a timeline. Verdicts never read it.
public struct CheckSeries: Sendable, Codable, Equatable {
    /// One sample of a check (its latency in seconds) or one scrape of a metric (its value).
    public struct Point: Sendable, Codable, Equatable {
        public var at: Date
        /// False for a failed sample; scrapes that answered are always true.
        public var ok: Bool
        /// Latency in seconds for a check sample, the summed metric for a scrape.
        public var value: Double?

        public init(at: Date, ok: Bool, value: Double?) {
            self.at = at
            self.ok = ok
            self.value = value
        }
    }

    /// A limit drawn as a horizontal line, such as a latency SLO (`p99` at 0.3 s).
    public struct Ceiling: Sendable, Codable, Equatable {
        public var label: String
        public var value: Double

        public init(label: String, value: Double) {
            self.label = label
            self.value = value
        }
    }

    /// `s` when values are latencies in seconds; empty for a metric's own unit.
    public var unit: String
    /// In time order.
    public var points: [Point]
    public var ceilings: [Ceiling]
    /// When the scenario's faults were rolled back, as the check saw it.
    public var rolledBackAt: Date?
    /// When the check was healthy again after rollback (nil when it never was, or was not watched).
    public var recoveredAt: Date?

    public init(
        unit: String, points: [Point], ceilings: [Ceiling] = [], rolledBackAt: Date? = nil, recoveredAt: Date? = nil
    ) {
        self.unit = unit
        self.points = points
        self.ceilings = ceilings
        self.rolledBackAt = rolledBackAt
        self.recoveredAt = recoveredAt
    }
}
