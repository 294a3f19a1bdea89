import EbbCore
import Foundation

/// Text as it may appear in the HTML report: user strings (scenario, fault and check names,
/// messages, targets) come from suites and process output, so each one is cleaned of ANSI
/// escapes and characters XML forbids (``TextHygiene``) and then escaped for XML, which makes
/// it safe in HTML text, in SVG text and in quoted attributes alike.
enum HTMLText {
    static func escape(_ text: String, limit: Int = 4096) -> String {
        var out = ""
        for character in TextHygiene.sanitized(text, limit: limit).unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A number for SVG coordinates: two decimals at most, never exponent notation.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.2f", rounded)
    }

    /// Seconds as people read them: `979ms`, `1.25s`, `2m05s`.
    static func seconds(_ value: Double) -> String {
        if value >= 120 { return "\(Int(value) / 60)m\(String(format: "%02d", Int(value) % 60))s" }
        if value >= 1 { return String(format: "%.3g", value) + "s" }
        if value >= 0.01 { return "\(Int((value * 1000).rounded()))ms" }
        return value == 0 ? "0s" : String(format: "%.2fms", value * 1000)
    }

    /// A metric value: integers without decimals, others with up to four significant digits.
    static func value(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4g", value)
    }

    static func time(_ date: Date) -> String {
        UTCTime.string(date)
    }
}
