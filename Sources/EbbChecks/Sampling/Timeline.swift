import EbbCore
import Foundation
import Histogram

/// What a series of samples says about a check: downtime windows, success ratio, latency.
struct Timeline {
    /// A downtime window on the monotonic clock.
    struct Window {
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        var closed: Bool
        var failures: Int
        var seen: [String: Int]

        var duration: Duration { end - start }
    }

    let samples: [Sample]
    let windows: [Window]
    /// Latencies of healthy answers in microseconds, in an HdrHistogram (three significant
    /// digits in constant memory however long the hold); nil when there was none.
    private let latencies: Histogram<UInt64>?

    /// `samples` must be in schedule order. A window opens when a sample fails and closes when
    /// the next healthy sample (in schedule order) answers; `now` ends a window still open.
    init(_ samples: [Sample], now: ContinuousClock.Instant) {
        self.samples = samples
        var windows: [Window] = []
        var open: Window?
        for sample in samples {
            if sample.outcome.healthy {
                if var window = open {
                    window.end = max(window.start, sample.finished)
                    window.closed = true
                    windows.append(window)
                    open = nil
                }
            } else if open == nil {
                open = Window(
                    start: sample.started, end: sample.finished, closed: false, failures: 1,
                    seen: [sample.outcome.detail: 1])
            } else {
                open?.failures += 1
                open?.seen[sample.outcome.detail, default: 0] += 1
            }
        }
        if var window = open {
            window.end = max(window.end, now)
            windows.append(window)
        }
        self.windows = windows
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for sample in samples where sample.outcome.healthy {
            let micros = max(1, UInt64(max(0, sample.latency.seconds * 1_000_000)))
            _ = histogram.record(min(micros, 3_600_000_000))
        }
        latencies = histogram.totalCount > 0 ? histogram : nil
    }

    var downtime: Duration { windows.reduce(.zero) { $0 + $1.duration } }

    var successRatio: Double? {
        samples.isEmpty ? nil : Double(samples.filter(\.outcome.healthy).count) / Double(samples.count)
    }

    var longestFailureRun: Int {
        var longest = 0
        var current = 0
        for sample in samples {
            current = sample.outcome.healthy ? 0 : current + 1
            longest = max(longest, current)
        }
        return longest
    }

    /// A latency percentile of healthy answers, in microsecond resolution.
    func latency(at percentile: Double) -> Duration? {
        latencies.map { .microseconds(Int64($0.valueAtPercentile(percentile))) }
    }

    /// The windows as reports keep them, on the wall clock.
    func reportWindows(_ anchor: ClockAnchor) -> [DowntimeWindow] {
        windows.map { window in
            DowntimeWindow(
                start: anchor.date(window.start), end: anchor.date(window.end), closed: window.closed,
                failures: window.failures,
                seen: window.seen.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) x\($0.value)" })
        }
    }
}

/// Maps the monotonic clock to wall-clock dates for reports.
struct ClockAnchor: Sendable {
    let instant = ContinuousClock.now
    let date = Date()

    func date(_ other: ContinuousClock.Instant) -> Date {
        date.addingTimeInterval((other - instant).seconds)
    }
}
