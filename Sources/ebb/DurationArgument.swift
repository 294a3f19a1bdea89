import ArgumentParser
import EbbCore

/// A duration flag (`500ms`, `30s`, `5m`), parsed as the suite's durations are; a bad value is
/// a usage error (exit 3) that says how to write one.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        guard let duration = DurationText.parse(argument), duration > .zero else { return nil }
        self.duration = duration
    }

    var defaultValueDescription: String { DurationText.format(duration) }
}
