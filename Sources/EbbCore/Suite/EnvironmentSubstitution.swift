import Yams

/// Replaces `${NAME}` and `${NAME:-default}` in a suite with environment variables, so one
/// suite serves several environments. `$${` stands for a literal `${`. Comments are left alone,
/// so a commented-out line cannot fail the load.
///
/// A value never passes through the YAML parser: ``prepare(_:file:environment:)`` swaps each
/// reference for a placeholder of the same length (Unicode noncharacters, which no suite
/// holds), the text is parsed, and ``resolve(_:in:)`` puts the values into the scalars that
/// hold the placeholders. So `a\nb: c`, `x, y]` or `{evil: 1}` land as exactly that string and
/// cannot add keys or nesting, and lines and columns in errors are those of the file. Keys are
/// substituted like values.
public enum EnvironmentSubstitution {
    /// A suite's text with placeholders, and the values they stand for.
    public struct Prepared: Sendable {
        /// The text to parse.
        public var text: String
        /// The value of each placeholder, by index.
        public var values: [String]
    }

    /// Starts a placeholder; its index follows in ``digitBase``-based digits, padded with ``padding``.
    static let start = Unicode.Scalar(0xFDD0 as UInt32)!  // Swift refuses noncharacters in literals
    static let padding = Unicode.Scalar(0xFDD1 as UInt32)!
    static let digitBase: UInt32 = 0xFDE0

    /// The text with each reference swapped for a placeholder, or ``SuiteErrors`` naming every
    /// unset variable.
    public static func prepare(_ text: String, file: String, environment: [String: String]) throws -> Prepared {
        if text.unicodeScalars.contains(start) {
            throw SuiteErrors([
                SuiteError(
                    file: file, line: 1, column: 1, key: "(file)",
                    message: "the file holds U+FDD0, a Unicode noncharacter that Ebb reserves for ${...} substitution")
            ])
        }
        // Without a `$` nothing is substituted, and with "\n" as its only line break the text
        // would be rebuilt unchanged: skip the line-by-line pass, a sixth of loading a big suite.
        if !text.unicodeScalars.contains(where: { $0 == "$" || ($0 != "\n" && TextLines.isBreak($0)) }) {
            return Prepared(text: text, values: [])
        }
        var prepared = Prepared(text: "", values: [])
        var problems: [SuiteError] = []
        // Any line break ends a line ("\r\n" is a single Character in Swift); lines are
        // joined with "\n", which YAML reads the same way.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if index > 0 { prepared.text.append("\n") }
            let end = commentStart(in: line)
            prepared.text += prepareLine(
                line[..<end], number: index + 1, file: file, environment: environment,
                values: &prepared.values, problems: &problems)
            prepared.text += line[end...]
        }
        guard problems.isEmpty else { throw SuiteErrors(problems) }
        return prepared
    }

    /// Returns the expanded text, or throws ``SuiteErrors`` naming every unset variable. For
    /// text that is not parsed as YAML afterwards; the suite loader uses ``prepare`` and ``resolve``.
    public static func expand(_ text: String, file: String, environment: [String: String]) throws -> String {
        let prepared = try prepare(text, file: file, environment: environment)
        return fill(prepared.text, with: prepared.values)
    }

    /// `node` with the value of every placeholder put into the scalars (keys included) that hold it.
    public static func resolve(_ node: Node, in prepared: Prepared) -> Node {
        guard !prepared.values.isEmpty else { return node }
        switch node {
        case .scalar(let scalar):
            guard scalar.string.unicodeScalars.contains(start) else { return node }
            // Always a string: a value is data, never YAML (not a number, null or boolean by tag).
            return .scalar(
                Node.Scalar(fill(scalar.string, with: prepared.values), Tag(.str), scalar.style, scalar.mark))
        case .mapping(let mapping):
            let pairs = mapping.map { (resolve($0.key, in: prepared), resolve($0.value, in: prepared)) }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            return .sequence(
                Node.Sequence(sequence.map { resolve($0, in: prepared) }, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// `text` with each placeholder replaced by its value.
    static func fill(_ text: String, with values: [String]) -> String {
        guard text.unicodeScalars.contains(start) else { return text }
        var result = String.UnicodeScalarView()
        var scalars = text.unicodeScalars[...]
        while let first = scalars.first {
            scalars = scalars.dropFirst()
            guard first == start else {
                result.append(first)
                continue
            }
            var index = 0
            while let digit = scalars.first, digit.value >= digitBase, digit.value < digitBase + 10 {
                index = index * 10 + Int(digit.value - digitBase)
                scalars = scalars.dropFirst()
            }
            while scalars.first == padding { scalars = scalars.dropFirst() }
            if index < values.count { result.append(contentsOf: values[index].unicodeScalars) }
        }
        return String(result)
    }

    /// A placeholder for value `index`, as long as `length` characters where it fits, so that
    /// columns after it stay those of the file.
    static func placeholder(_ index: Int, length: Int) -> String {
        var scalars = String.UnicodeScalarView([start])
        scalars.append(contentsOf: String(index).unicodeScalars.map { Unicode.Scalar(digitBase + $0.value - 48)! })
        while scalars.count < length { scalars.append(padding) }
        return String(scalars)
    }

    private static func prepareLine(
        _ line: Substring, number: Int, file: String, environment: [String: String],
        values: inout [String], problems: inout [SuiteError]
    ) -> String {
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
            let reference = after[...close]
            if !isName(name) {
                problems.append(
                    SuiteError(
                        file: file, line: number, column: column, key: "(env)",
                        message:
                            "'${\(body)}' is not a variable reference; write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"
                    ))
            } else if let value = environment[name] ?? (parts.count == 2 ? String(parts[1]) : nil) {
                result += placeholder(values.count, length: reference.count)
                values.append(value)
            } else {
                problems.append(
                    SuiteError(
                        file: file, line: number, column: column, key: "(env)",
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
