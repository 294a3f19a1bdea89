import EbbCore
import Foundation

/// One downtime window as a line for people: when, how long, and what was seen.
enum DowntimeText {
    static func line(_ window: DowntimeWindow) -> String {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let seconds = String(format: "%.3fs", window.duration.seconds)
        let open = window.closed ? "" : ", still failing when sampling stopped"
        return "\(window.start.formatted(style)) .. \(window.end.formatted(style)) (\(seconds), \(window.failures) failed\(open)): \(window.seen.joined(separator: ", "))"
    }
}
