import Foundation

/// Re-checks a condition until it holds or a timeout passes, for states the kernel updates
/// asynchronously (a process leaving the stopped state, a restarted service appearing, a proxy
/// connection letting go of a rule).
public enum Poll {
    public static func until(
        timeout: Duration, every interval: Duration = .milliseconds(20), _ condition: () -> Bool
    ) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while true {
            if condition() { return true }
            if clock.now >= end { return false }
            Thread.sleep(forTimeInterval: interval.seconds)
        }
    }
}
