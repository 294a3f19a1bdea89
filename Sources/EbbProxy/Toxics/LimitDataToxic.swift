import EbbCore

/// `limit_data`: the connection closes once `bytes` have passed.
public struct LimitDataToxic: Toxic {
    public static let name = "limit_data"
    public static let parameterNames = ["bytes"]
    public let bytes: UInt64

    public init(_ parameters: FaultParameters) throws {
        bytes = try parameters.required("bytes", parameters.size("bytes"), by: Self.name)
    }

    public var summary: String { "limit_data \(bytes) bytes" }
    public var byteLimit: UInt64? { bytes }
}
