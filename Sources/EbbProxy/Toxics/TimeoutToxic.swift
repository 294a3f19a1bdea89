import EbbCore

/// `timeout`: nothing passes (and nothing more is read); the connection closes after
/// `close_after` if given, else it hangs until the toxic is removed.
public struct TimeoutToxic: Toxic {
    public static let name = "timeout"
    public static let parameterNames = ["close_after"]
    public let closeAfter: Duration?

    public init(_ parameters: FaultParameters) throws {
        closeAfter = try parameters.duration("close_after")
    }

    public var summary: String { "timeout" + (closeAfter.map { ", close after \(DurationText.format($0))" } ?? "") }
    public var holdsData: Bool { true }
    public var connectionEnd: (after: Duration, end: ConnectionEnd)? { closeAfter.map { ($0, .close) } }
}
