import EbbCore

/// `slow_close`: when the sending side closes, the close reaches the other side `delay` later.
public struct SlowCloseToxic: Toxic {
    public static let name = "slow_close"
    public static let parameterNames = ["delay"]
    public let delay: Duration

    public init(_ parameters: FaultParameters) throws {
        delay = try parameters.required("delay", parameters.duration("delay"), by: Self.name)
    }

    public var summary: String { "slow_close by \(DurationText.format(delay))" }
    public var closeDelay: Duration? { delay }
}
