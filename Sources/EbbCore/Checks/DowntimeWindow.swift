import Foundation

/// A stretch of time in which a check kept failing: from the first failed sample to the first
/// healthy answer after it. A single failed sample is a window too.
public struct DowntimeWindow: Sendable, Codable, Equatable {
    public var start: Date
    public var end: Date
    /// False when sampling stopped while the check was still failing.
    public var closed: Bool
    /// Failed samples in the window.
    public var failures: Int
    /// The distinct status codes and errors seen, most frequent first.
    public var seen: [String]

    public init(start: Date, end: Date, closed: Bool, failures: Int, seen: [String]) {
        self.start = start
        self.end = end
        self.closed = closed
        self.failures = failures
        self.seen = seen
    }

    public var duration: Duration { .seconds(end.timeIntervalSince(start)) }
}
