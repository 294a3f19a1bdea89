import EbbCore

/// A TCP-level fault on one direction of a proxy's connections (Toxiproxy's toxics), one type
/// per toxic. A type reads its own parameters and says, through the hooks below, how a flow
/// applies it; a hook a toxic leaves alone has no effect.
public protocol Toxic: Sendable {
    /// The name suites give it: `toxic: latency`.
    static var name: String { get }
    /// The `proxy.toxic` parameters it takes beside the common ones.
    static var parameterNames: [String] { get }
    /// Reads its parameters; a missing or bad one is reported through `parameters`.
    init(_ parameters: FaultParameters) throws
    /// For people: `latency 100ms +/- 10ms`.
    var summary: String { get }

    /// Whether no data passes while it applies.
    var holdsData: Bool { get }
    /// The size data is cut into, and by how much a piece may differ from it at random.
    var pieces: (size: Int, variation: Int)? { get }
    /// How long each piece after the first of one read waits behind the one before.
    var gapBetweenPieces: Duration { get }
    /// The rate data is paced to, in bytes per second.
    var bytesPerSecond: UInt64? { get }
    /// How much later a piece is released; asked once per piece.
    func delay() -> Duration
    /// How many bytes may pass in all, counted from when the toxic reaches the connection.
    var byteLimit: UInt64? { get }
    /// How long the end of the direction is held back once everything before it was written.
    var closeDelay: Duration? { get }
    /// What the toxic does to the whole connection, and how long after it reaches it.
    var connectionEnd: (after: Duration, end: ConnectionEnd)? { get }
}

/// How a toxic ends a connection.
public enum ConnectionEnd: Sendable {
    /// Both sides are closed.
    case close
    /// The receiving peer of the toxic's direction gets a TCP RST.
    case resetPeer
}

extension Toxic {
    public var holdsData: Bool { false }
    public var pieces: (size: Int, variation: Int)? { nil }
    public var gapBetweenPieces: Duration { .zero }
    public var bytesPerSecond: UInt64? { nil }
    public func delay() -> Duration { .zero }
    public var byteLimit: UInt64? { nil }
    public var closeDelay: Duration? { nil }
    public var connectionEnd: (after: Duration, end: ConnectionEnd)? { nil }
}

extension FaultParameters {
    /// `value`, or an error naming the toxic that needs `key`.
    func required<Value>(_ key: String, _ value: Value?, by toxic: String) throws -> Value {
        guard let value else { throw error(key, "the \(toxic) toxic needs '\(key)'") }
        return value
    }
}
