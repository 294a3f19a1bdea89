import EbbCore

/// `reset_peer`: the receiving peer of the direction gets a TCP RST `after` the toxic reaches it.
public struct ResetPeerToxic: Toxic {
    public static let name = "reset_peer"
    public static let parameterNames = ["after"]
    public let after: Duration

    public init(_ parameters: FaultParameters) throws {
        after = try parameters.duration("after") ?? .zero
    }

    public var summary: String { "reset_peer after \(DurationText.format(after))" }
    public var connectionEnd: (after: Duration, end: ConnectionEnd)? { (after, .resetPeer) }
}
