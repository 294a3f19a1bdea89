import Foundation

/// One series of a Prometheus text-format exposition.
struct ExposedSample: Equatable, Sendable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the Prometheus text exposition format (version 0.0.4), which `/metrics` endpoints
/// serve. Written by hand because the Swift Prometheus libraries only produce this format;
/// none reads it. Comments, `# HELP` and `# TYPE` lines and timestamps are skipped.
enum Exposition {
    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line) of the exposition: \(reason)" }
    }

    static func parse(_ text: String) throws -> [ExposedSample] {
        var samples: [ExposedSample] = []
        // Split on any line break: in Swift "\r\n" is one Character, not "\r" + "\n".
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            samples.append(try sample(Substring(line), lineNumber: index + 1))
        }
        return samples
    }

    private static func sample(_ line: Substring, lineNumber: Int) throws -> ExposedSample {
        var rest = line
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }
        guard !name.isEmpty else { throw SyntaxError(line: lineNumber, reason: "expected a metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while true {
                rest = rest.drop { $0 == " " || $0 == "," }
                if rest.first == "}" { rest = rest.dropFirst(); break }
                let label = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !label.isEmpty else { throw SyntaxError(line: lineNumber, reason: "expected a label name") }
                rest = rest.dropFirst(label.count).drop { $0 == " " }
                guard rest.first == "=" else {
                    throw SyntaxError(line: lineNumber, reason: "expected '=' after label \(label)")
                }
                rest = rest.dropFirst().drop { $0 == " " }
                guard rest.first == "\"" else {
                    throw SyntaxError(line: lineNumber, reason: "expected a quoted value for label \(label)")
                }
                rest = rest.dropFirst()
                var value = ""
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\"" { closed = true; break }
                    if character == "\\", let escaped = rest.first {
                        rest = rest.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else {
                        value.append(character)
                    }
                }
                guard closed else {
                    throw SyntaxError(line: lineNumber, reason: "unterminated value of label \(label)")
                }
                labels[String(label)] = value
            }
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = fields.first, let value = number(first) else {
            throw SyntaxError(line: lineNumber, reason: "expected a value after \(name)")
        }
        return ExposedSample(name: String(name), labels: labels, value: value)
    }

    private static func number(_ text: Substring) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return Double(text)
        }
    }
}
