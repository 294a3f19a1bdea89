/// One parameter a plugin accepts, for validation and for `ebb plugins`.
public struct ParameterSpec: Sendable {
    public enum Kind: String, Sendable {
        case string, integer, number, boolean, duration
        /// Bytes: an integer or `512K`, `64M`, `1G`.
        case size
        /// A program and its arguments, as a list of strings.
        case argv = "list of strings"
    }

    public var name: String
    public var kind: Kind
    public var isRequired: Bool
    public var summary: String

    public init(_ name: String, _ kind: Kind, required: Bool = false, _ summary: String) {
        self.name = name
        self.kind = kind
        self.isRequired = required
        self.summary = summary
    }
}

/// Parses sizes such as `4096`, `512K`, `64M`, `1G` (powers of 1024).
public enum SizeText {
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, UInt64)] = [
            ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        // Sizes above 2^62 bytes (4 EiB) are typos, and would overflow the system calls' off_t.
        let limit = Double(UInt64(1) << 62)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count)), value >= 0, value * Double(factor) <= limit else {
                return nil
            }
            return UInt64(value * Double(factor))
        }
        return UInt64(trimmed).flatMap { Double($0) <= limit ? $0 : nil }
    }
}
