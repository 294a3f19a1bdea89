import EbbCore

/// `slicer`: data is cut into slices of `average_size` +/- `size_variation` bytes, `delay` apart.
public struct SlicerToxic: Toxic {
    public static let name = "slicer"
    public static let parameterNames = ["average_size", "size_variation", "delay"]
    public let averageSize: Int
    public let variation: Int
    public let gap: Duration

    public init(_ parameters: FaultParameters) throws {
        let average = try parameters.required("average_size", parameters.size("average_size"), by: Self.name)
        let variation = try parameters.size("size_variation") ?? 0
        guard average > 0, average <= 1 << 20 else {
            throw parameters.error("average_size", "average_size must be from 1 byte to 1M")
        }
        guard variation < average else {
            throw parameters.error("size_variation", "size_variation must be smaller than average_size")
        }
        averageSize = Int(average)
        self.variation = Int(variation)
        gap = try parameters.duration("delay") ?? .zero
    }

    public var summary: String { "slicer \(averageSize) +/- \(variation) bytes every \(DurationText.format(gap))" }
    public var pieces: (size: Int, variation: Int)? { (averageSize, variation) }
    public var gapBetweenPieces: Duration { gap }
}
