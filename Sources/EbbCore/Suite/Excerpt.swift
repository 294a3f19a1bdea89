/// Short, printable quotations of suite text for error messages. An error must never echo a
/// whole file (an include of the wrong file could print secrets into CI logs), nor control
/// characters that rewrite a terminal.
public enum Excerpt {
    /// The default length of a quotation, in characters.
    public static let defaultLimit = 80

    /// `text` with control characters escaped (`\xNN`, `\u{NNNN}`), cut to `limit`
    /// characters with a note of how much was left out.
    public static func of(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        var result = ""
        var kept = 0
        for character in text {
            if kept == limit {
                return result + "... (\(text.count) characters)"
            }
            result += escaped(character)
            kept += 1
        }
        return result
    }

    /// `character`, or its escape when it is a control or format character (bidi overrides too).
    static func escaped(_ character: Character) -> String {
        var result = ""
        for scalar in character.unicodeScalars {
            if [.control, .format].contains(scalar.properties.generalCategory) {
                result +=
                    scalar.value <= 0xFF
                    ? "\\x" + String(scalar.value, radix: 16, zeroPaddedTo: 2)
                    : "\\u{" + String(scalar.value, radix: 16, zeroPaddedTo: 4) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
