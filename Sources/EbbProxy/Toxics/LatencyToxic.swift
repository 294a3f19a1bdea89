import EbbCore

/// `latency`: every chunk waits `latency`, plus or minus up to `jitter`; order is kept.
public struct LatencyToxic: Toxic {
    public static let name = "latency"
    public static let parameterNames = ["latency", "jitter"]
    public let latency: Duration
    public let jitter: Duration

    public init(_ parameters: FaultParameters) throws {
        latency = try parameters.required("latency", parameters.duration("latency"), by: Self.name)
        jitter = try parameters.duration("jitter") ?? .zero
    }

    public var summary: String {
        "latency \(DurationText.format(latency))" + (jitter > .zero ? " +/- \(DurationText.format(jitter))" : "")
    }

    public func delay() -> Duration {
        jitter > .zero ? latency + jitter * Double.random(in: -1...1) : latency
    }
}
