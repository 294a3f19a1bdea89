import ArgumentParser
import EbbCore

/// `--deadline-grace`: how long past a fault's hold the guardian waits before it reverts the
/// fault behind a runner that is alive but stuck.
struct DeadlineGrace: Sendable {
    /// The runner's own rollback needs a moment after the hold; a grace shorter than this would
    /// have the guardian race it on every fault. Sub-second graces are for fast local suites
    /// (and tests) where the guardian should act quickly.
    static let minimum: Duration = .milliseconds(100)
    /// A deadline is also when `ebb rollback sweep` may revert a fault of a dead job; past a
    /// day the sweep stops being a safety net.
    static let maximum: Duration = .seconds(86_400)

    var duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    /// Parses `30s`, `2m`, ...; anything else, or a grace outside 100ms...24h, is a usage error that
    /// says why.
    init(parsing text: String) throws {
        guard let duration = DurationText.parse(text) else {
            throw ValidationError("not a duration; write one like 30s, 500ms or 2m")
        }
        guard duration >= Self.minimum, duration <= Self.maximum else {
            throw ValidationError(
                "the grace must be from 100ms to 24h (shorter races the runner's own rollback; "
                    + "longer leaves a stuck runner's fault in place for more than a day)")
        }
        self.duration = duration
    }
}
