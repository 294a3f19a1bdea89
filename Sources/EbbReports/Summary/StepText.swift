import EbbCore
import Foundation

extension StepResult {
    /// The step's message plus what a check measured, its limit and its downtime windows,
    /// so that JUnit viewers and scenario logs show the numbers behind a verdict.
    var reportText: String? {
        var lines = message.flatMap { $0.isEmpty ? nil : [$0] } ?? []
        if let measured { lines.append("measured: \(measured)") }
        if let limit { lines.append("limit: \(limit)") }
        if !windows.isEmpty {
            lines.append("downtime windows:")
            lines += windows.map { "  " + DowntimeText.line($0) }
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}

/// One downtime window as a line for people: when, how long, and what was seen.
enum DowntimeText {
    static func line(_ window: DowntimeWindow) -> String {
        let seconds = String(format: "%.3fs", window.duration.seconds)
        let open = window.closed ? "" : ", still failing when sampling stopped"
        return
            "\(UTCTime.string(window.start)) .. \(UTCTime.string(window.end)) (\(seconds), \(window.failures) failed\(open)): \(window.seen.joined(separator: ", "))"
    }
}
