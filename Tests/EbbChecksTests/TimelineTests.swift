import Testing

@testable import EbbChecks

/// Downtime windows from samples: a window runs from the first failed sample to the answer of
/// the next healthy one, and a single failed sample is a window too.
@Suite struct TimelineTests {
    let origin = ContinuousClock.now

    func sample(at milliseconds: Int, took: Int = 1, healthy: Bool, detail: String = "HTTP 200") -> Sample {
        let start = origin + .milliseconds(milliseconds)
        return Sample(
            scheduled: start, started: start, finished: start + .milliseconds(took),
            outcome: ProbeOutcome(healthy: healthy, detail: detail, answered: true))
    }

    @Test func aSingleFailedSampleIsAWindow() {
        let timeline = Timeline(
            [
                sample(at: 0, healthy: true), sample(at: 50, healthy: false, detail: "HTTP 503"),
                sample(at: 100, healthy: true),
            ], now: origin + .seconds(1))
        #expect(timeline.windows.count == 1)
        #expect(timeline.windows[0].duration == .milliseconds(51))
        #expect(timeline.windows[0].failures == 1)
        #expect(timeline.windows[0].closed)
        #expect(timeline.longestFailureRun == 1)
    }

    @Test func windowsEndWhenTheNextHealthySampleAnswersAndOpenOnesRunToNow() {
        var samples = (0..<10).map { sample(at: $0 * 50, healthy: true) }
        samples += (10..<30).map { sample(at: $0 * 50, took: 200, healthy: false, detail: "timed out") }
        // The first healthy answer after the outage was sent during it and answered late.
        samples.append(sample(at: 1500, took: 40, healthy: true))
        samples += [
            sample(at: 1550, healthy: false, detail: "HTTP 503"), sample(at: 1600, healthy: false, detail: "timed out"),
            sample(at: 1650, healthy: false, detail: "HTTP 503"),
        ]
        let timeline = Timeline(samples, now: origin + .milliseconds(1800))
        #expect(timeline.windows.count == 2)
        #expect(timeline.windows[0].start == origin + .milliseconds(500))
        #expect(timeline.windows[0].end == origin + .milliseconds(1540))
        #expect(timeline.windows[1].closed == false)
        #expect(timeline.windows[1].end == origin + .milliseconds(1800))
        #expect(timeline.windows[1].seen == ["HTTP 503": 2, "timed out": 1])
        #expect(timeline.longestFailureRun == 20)
        #expect(timeline.downtime == .milliseconds(1040 + 250))
        #expect(timeline.successRatio == 11.0 / 34.0)
    }

    @Test func latencyPercentilesCountHealthyAnswersOnly() {
        let samples =
            (0..<100).map { sample(at: $0 * 10, took: $0 < 99 ? 2 : 90, healthy: true) }
            + [sample(at: 1000, took: 5000, healthy: false)]
        let timeline = Timeline(samples, now: origin + .seconds(7))
        #expect(timeline.latency(at: 50) == .milliseconds(2))
        #expect(timeline.latency(at: 100).map { $0 >= .milliseconds(89) && $0 <= .milliseconds(91) } == true)
        #expect(Timeline([], now: origin).latency(at: 50) == nil)
    }
}
