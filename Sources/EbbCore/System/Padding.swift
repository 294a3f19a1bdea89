extension String {
    /// `value`'s digits in `radix`, with zeros in front up to `width` (`7` → `"007"`): for
    /// timestamps, JUnit's seconds and escapes, where a format string would bring a locale.
    public init(_ value: some BinaryInteger, radix: Int = 10, zeroPaddedTo width: Int) {
        let digits = String(value, radix: radix, uppercase: true)
        self = String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
    }

    /// This text with spaces after it up to `width` characters, for the columns of listings and
    /// help; longer text is kept whole. (Foundation's `padding(toLength:withPad:startingAt:)`
    /// bridges through NSString on every call, and cuts longer text.)
    public func padded(toWidth width: Int) -> String {
        self + String(repeating: " ", count: Swift.max(0, width - count))
    }
}
