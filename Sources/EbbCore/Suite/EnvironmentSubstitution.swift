/// Replaces `${NAME}` and `${NAME:-default}` in suite text with environment variables, so one
/// suite serves several environments. `$${` stands for a literal `${`. Comments are left alone,
/// so a commented-out line cannot fail the load. Line numbers are kept; columns after a
/// substitution on the same line shift by the length difference.
public enum EnvironmentSubstitution {
    /// Returns the expanded text, or throws ``SuiteErrors`` naming every unset variable.
    public static func expand(_ text: String, file: String, environment: [String: String]) throws -> String {
        var output = ""
        var problems: [SuiteError] = []
        // Any line break ends a line ("\r\n" is a single Character in Swift); lines are
        // joined with "\n", which YAML reads the same way.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if index > 0 { output.append("\n") }
            let end = commentStart(in: line)
            output += try expandLine(line[..<end], number: index + 1, file: file, environment: environment, problems: &problems)
            output += line[end...]
        }
        guard problems.isEmpty else { throw SuiteErrors(problems) }
        return output
    }

    private static func expandLine(_ line: Substring, number: Int, file: String, environment: [String: String],
                                   problems: inout [SuiteError]) throws -> String {
        var result = ""
        var rest = line
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let after = rest[dollar...]
            if after.hasPrefix("$${") {
                result += "${"
                rest = after.dropFirst(3)
                continue
            }
            guard after.hasPrefix("${"), let close = after.firstIndex(of: "}") else {
                result += "$"
                rest = after.dropFirst()
                continue
            }
            let body = after[after.index(after.startIndex, offsetBy: 2)..<close]
            let parts = body.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let column = line.distance(from: line.startIndex, to: dollar) + 1
            if !isName(name) {
                problems.append(SuiteError(file: file, line: number, column: column, key: "(env)",
                                           message: "'${\(body)}' is not a variable reference; write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"))
            } else if let value = environment[name] {
                result += value
            } else if parts.count == 2 {
                result += parts[1]
            } else {
                problems.append(SuiteError(file: file, line: number, column: column, key: "(env)",
                                           message: "environment variable \(name) is not set; set it, or write ${\(name):-default}"))
            }
            rest = after[after.index(after: close)...]
        }
        return result + rest
    }

    private static func isName(_ text: String) -> Bool {
        guard let first = text.first, first == "_" || first.isLetter else { return false }
        return text.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    /// Where a YAML comment starts: a `#` outside quotes at the start or after a blank. A
    /// quote opens a quoted scalar only where a value can start (so the apostrophe in
    /// `it's` does not), and a double quote closes unless an odd number of backslashes
    /// escapes it.
    private static func commentStart(in line: Substring) -> Substring.Index {
        var quote: Character?
        var previous: Character = " "
        var lastSignificant: Character?
        var backslashes = 0
        for index in line.indices {
            let character = line[index]
            switch (quote, character) {
            case (nil, "#") where previous == " " || previous == "\t":
                return index
            case (nil, "\""), (nil, "'"):
                if lastSignificant == nil || ":-[{,?".contains(lastSignificant!) { quote = character }
            case ("\"", "\"") where backslashes % 2 == 0:
                quote = nil
            case ("'", "'"):
                quote = nil
            default:
                break
            }
            backslashes = character == "\\" ? backslashes + 1 : 0
            previous = character
            if character != " " && character != "\t" { lastSignificant = character }
        }
        return line.endIndex
    }
}
