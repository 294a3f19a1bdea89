import EbbCore

/// `bandwidth`: at most `rate` bytes per second pass.
public struct BandwidthToxic: Toxic {
    public static let name = "bandwidth"
    public static let parameterNames = ["rate"]
    public let rate: UInt64

    public init(_ parameters: FaultParameters) throws {
        rate = try parameters.required("rate", parameters.size("rate"), by: Self.name)
        guard rate > 0 else {
            throw parameters.error("rate", "rate must be above zero (use the timeout toxic to stop data)")
        }
    }

    public var summary: String { "bandwidth \(rate) bytes/s" }
    public var bytesPerSecond: UInt64? { rate }
    /// About 20 pieces a second, so the pace is smooth rather than one burst a second.
    public var pieces: (size: Int, variation: Int)? { (max(1, Int(rate / 20)), 0) }
}
