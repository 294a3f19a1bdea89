/// Parses and prints the durations a suite uses: `250ms`, `2s`, `1m`, `1h`, and sums such as `1m30s`.
public enum DurationText {
    /// The units a suite may use, longest suffix first so that `ms` is not read as `m` + `s`.
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ms", 1e6), ("us", 1e3), ("ns", 1), ("h", 3600e9), ("m", 60e9), ("s", 1e9),
    ]

    /// Returns the duration `text` names, or nil when it is not of the form `<number><unit>...`.
    public static func parse(_ text: String) -> Duration? {
        var rest = text.drop(while: isBlank)
        while let last = rest.last, isBlank(last) { rest.removeLast() }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            total += value * unit.nanoseconds
        }
        // Longer than a year is a typo, and beyond Int64 nanoseconds it would trap.
        guard total.isFinite, total <= 366 * 86_400e9 else { return nil }
        return .nanoseconds(Int64(total.rounded()))
    }

    /// What `CharacterSet.whitespaces` holds (tab and the Unicode space separators), tested
    /// without Foundation: its trimming bridges to `NSString`, whose first use cost a run about
    /// 0.3 ms of its start.
    private static func isBlank(_ character: Character) -> Bool {
        character == "\t" || character.unicodeScalars.allSatisfy { $0.properties.generalCategory == .spaceSeparator }
    }

    /// Formats `duration` the way a suite would write it (`1.5s`, `250ms`).
    public static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds >= 1 || seconds == 0 {
            let rounded = (seconds * 1000).rounded() / 1000
            return rounded == rounded.rounded() ? "\(Int(rounded))s" : "\(rounded)s"
        }
        return "\(Int((seconds * 1000).rounded()))ms"
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
