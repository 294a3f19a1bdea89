import Foundation

/// A limit written as text in a suite: `< 5`, `<= 0.1`, `> 0`, `>= 3`, `== 0`, `between 1 and 2`.
struct Comparison: Sendable, Equatable, CustomStringConvertible {
    enum Operator: String, Sendable, CaseIterable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "=="
    }
    enum Form: Sendable, Equatable {
        case compare(Operator, Double)
        case between(Double, Double)
    }
    var form: Form

    /// Parses the suite's text form; nil when it is none of the forms above.
    init?(_ text: String) {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        if words.count == 4, words[0] == "between", words[2] == "and", let low = Double(words[1]),
            let high = Double(words[3]), low <= high
        {
            form = .between(low, high)
            return
        }
        // "<=5" as well as "<= 5": the operator is the leading run of comparison characters.
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let symbol = String(trimmed.prefix { "<>=".contains($0) })
        guard let op = Operator(rawValue: symbol),
            let value = Double(trimmed.dropFirst(symbol.count).trimmingCharacters(in: .whitespaces)), value.isFinite
        else { return nil }
        form = .compare(op, value)
    }

    func holds(for value: Double) -> Bool {
        switch form {
        case .between(let low, let high): return value >= low && value <= high
        case .compare(let op, let limit):
            switch op {
            case .less: return value < limit
            case .lessOrEqual: return value <= limit
            case .greater: return value > limit
            case .greaterOrEqual: return value >= limit
            case .equal: return value == limit
            }
        }
    }

    var description: String {
        switch form {
        case .between(let low, let high): return "between \(Self.format(low)) and \(Self.format(high))"
        case .compare(let op, let limit): return "\(op.rawValue) \(Self.format(limit))"
        }
    }

    static let help = "write a comparison such as '< 5', '<= 0.1', '>= 3', '== 0' or 'between 1 and 2'"

    /// Numbers as people write them: 5, 0.25, 1e-06.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%g", value)
    }
}
