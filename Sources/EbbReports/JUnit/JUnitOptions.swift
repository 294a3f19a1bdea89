import EbbCore
import Foundation

/// Which JUnit dialect to write. No single document satisfies every consumer's schema
/// (ENVIRONMENT.md, "JUnit consumers"), so the flavor picks which one a report must pass.
public enum JUnitFlavor: String, CaseIterable, Sendable {
    /// Validates against `junit-10.xsd` (Jenkins xUnit, the strictest common consumer) and
    /// is read by GitLab, GitHub reporters and Jenkins: testcase output, attachments per case.
    case portable
    /// Validates against the Ant `JUnit.xsd` (Azure DevOps and others): a bare `<testsuites>`
    /// root, `id`/`package` on each suite, required `properties`/`system-out`/`system-err`,
    /// and no output inside a testcase (step output goes to the suite's `system-out`).
    case ant
}

/// How `JUnitWriter` renders a run.
public struct JUnitOptions: Sendable {
    /// The dialect; `.portable` unless a consumer needs Ant's schema.
    public var flavor: JUnitFlavor = .portable
    /// The most UTF-8 bytes kept per text node. A longer text keeps its head and tail and its
    /// middle becomes `... [N bytes omitted, full log: PATH] ...`. Clamped to 256 B ... 8 MiB:
    /// libxml2-based readers refuse a text node over 10 MB.
    public var maxOutputBytes: Int = 64 * 1024
    /// The `hostname` of every suite (`localhost` when empty, as Ant's schema asks).
    public var hostname: String
    /// Where the full log of a scenario is, relative to where CI looks for it (e.g.
    /// `reports/logs/<scenario>.log`). When non-nil, `[[ATTACHMENT|<path>]]` is added to the
    /// suite's `system-out` (and, portable flavor, each testcase's) and truncation markers
    /// point at it.
    public var logPathForScenario: @Sendable (ScenarioResult) -> String?

    /// Options with the documented defaults; `hostname` defaults to this machine's name.
    public init(
        flavor: JUnitFlavor = .portable,
        maxOutputBytes: Int = 64 * 1024,
        hostname: String = ProcessInfo.processInfo.hostName,
        logPathForScenario: @escaping @Sendable (ScenarioResult) -> String? = { _ in nil }
    ) {
        self.flavor = flavor
        self.maxOutputBytes = maxOutputBytes
        self.hostname = hostname
        self.logPathForScenario = logPathForScenario
    }

    /// `maxOutputBytes` within the range where the marker fits and libxml2 still reads the node.
    var textLimit: Int { min(max(maxOutputBytes, 256), 8 * 1024 * 1024) }
}
