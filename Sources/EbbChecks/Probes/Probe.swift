import Foundation

/// What one sample of a probe found.
struct ProbeOutcome: Sendable {
    var healthy: Bool
    /// The status code or error, as a short phrase ("200", "HTTP 503", "connection refused", "timed out").
    var detail: String
    /// Whether the target answered at all (a latency is meaningful only then).
    var answered: Bool
}

/// One kind of health question asked of the system under test.
protocol Probe: Sendable {
    func sample() async -> ProbeOutcome
}
