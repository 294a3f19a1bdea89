/// A suite's lines as Unicode scalars, for the checks that read its text before Yams does.
///
/// Scalars, not `Character`s: telling graphemes apart took most of those checks' time, and
/// YAML counts columns in scalars. The lines break where `Character.isNewline` breaks them.
enum TextLines {
    /// Whether `scalar` ends a line ("\r\n" ends one line, not two; see ``split(_:)``).
    static func isBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\n", "\u{0B}", "\u{0C}", "\r", "\u{85}", "\u{2028}", "\u{2029}": return true
        default: return false
        }
    }

    /// The lines of `text`, without their breaks; as many as `text.split(omittingEmptySubsequences:
    /// false, whereSeparator: \.isNewline)` returns.
    static func split(_ text: String) -> [[Unicode.Scalar]] {
        var lines: [[Unicode.Scalar]] = [[]]
        var afterCarriageReturn = false
        for scalar in text.unicodeScalars {
            defer { afterCarriageReturn = scalar == "\r" }
            if scalar == "\n" && afterCarriageReturn { continue }
            if isBreak(scalar) {
                lines.append([])
            } else {
                lines[lines.count - 1].append(scalar)
            }
        }
        return lines
    }
}
