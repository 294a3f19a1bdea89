import EbbCore
import Foundation

/// A run's suites as the JUnit file will show them: every string already cleaned, every
/// synthetic case already added. Building a suite before writing it means the counts written on
/// `<testsuite>` are computed from exactly the children that follow; suites are built one at a
/// time, as their scenarios finish, so a run's size never has to fit in memory at once.
enum JUnitReport {
    struct Case {
        enum Outcome {
            case passed
            case failure(type: String, message: String, body: String)
            case error(type: String, message: String, body: String)
            case skipped(message: String, body: String)
        }

        var name: String
        var classname: String
        var time: Duration
        var outcome: Outcome
        /// The testcase's `system-out`; always empty in the Ant flavor, which has none.
        var output: String
    }

    struct Suite {
        var name: String
        /// `ebb.<suite>`; Ant requires it on aggregated suites.
        var package: String
        var timestamp: String
        var hostname: String
        var time: Duration
        var properties: [(name: String, value: String)]
        var cases: [Case]
        var output: String

        var tests: Int { cases.count }
        var failures: Int { cases.count(where: { if case .failure = $0.outcome { true } else { false } }) }
        var errors: Int { cases.count(where: { if case .error = $0.outcome { true } else { false } }) }
        var skipped: Int { cases.count(where: { if case .skipped = $0.outcome { true } else { false } }) }
    }

    /// What every suite of one run shares: the run's identity and, once known, its signal.
    struct Run {
        var runID: String?
        var journalDirectory: URL?
        var startedAt: Date
        /// The signal that interrupted the run, if one did (an interrupted scenario names it).
        var signal: Int32?
    }

    /// Seconds with exactly three decimals and a `.`, computed without floating point or
    /// locale (junit-10 allows at most three decimals; `String(format:)` could print `,`).
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else { return "0.000" }
        var whole = seconds
        var millis = (attoseconds + 500_000_000_000_000) / 1_000_000_000_000_000
        if millis >= 1000 {
            whole += 1
            millis -= 1000
        }
        return "\(whole).\(String(millis, zeroPaddedTo: 3))"
    }

    /// `YYYY-MM-DDTHH:MM:SS` in UTC without a zone, as Ant's schema demands; the date is
    /// clamped to years 1...9999, the only ones that pattern can express.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        let clamped = interval.isFinite ? min(max(interval.rounded(.down), -62_135_596_800), 253_402_300_799) : 0
        return String(UTCTime.string(Date(timeIntervalSince1970: clamped), fractionalSeconds: false).dropLast())
    }
}

/// Turns results into cleaned suites and cases.
struct JUnitSuiteBuilder {
    var run: JUnitReport.Run
    let options: JUnitOptions
    let limit: Int
    let hostname: String
    /// classname + name pairs already used: GitLab keys cases by them and silently drops
    /// duplicates, so a repeated pair gets a ` (2)`, ` (3)` ... suffix instead. Keyed by the
    /// pair's hash, not the pair: a run's every case name must not have to stay in memory.
    var seen: [Int: Int] = [:]

    init(run: JUnitReport.Run, options: JUnitOptions) {
        self.run = run
        self.options = options
        limit = options.textLimit
        let host = TextHygiene.sanitized(options.hostname, limit: 255).trimmingCharacters(in: .whitespacesAndNewlines)
        hostname = host.isEmpty ? "localhost" : host
    }

    /// Attribute values: cleaned and kept short; they are names, paths and parameters.
    func attribute(_ text: String) -> String { TextHygiene.sanitized(text, limit: min(limit, 4096)) }

    mutating func suite(for scenario: ScenarioResult) -> JUnitReport.Suite {
        let suiteName = attribute(scenario.suite)
        let scenarioName = attribute(scenario.name)
        let classname = "ebb.\(suiteName).\(scenarioName)"
        let logPath = options.logPathForScenario(scenario).map(attribute).flatMap { $0.isEmpty ? nil : $0 }

        var properties = runProperties()
        var notes: [String] = []
        if scenario.interrupted {
            properties.append(("interrupted", "true"))
            if let signal = run.signal { properties.append(("signal", SignalTrap.name(of: signal))) }
            notes.append("not finished: \(interruption)")
        }
        properties += stepProperties(scenario.steps)

        var cases = scenario.steps.map { testcase($0, classname: classname, logPath: logPath) }
        // An interrupted scenario whose steps all look complete (say, holding when the signal
        // came, then rolled back) would read as a clean pass; a skipped case says otherwise.
        // When a step is already skipped, that step shows the unfinished work.
        if scenario.interrupted && !scenario.steps.contains(where: { $0.status == .skipped }) {
            cases.append(
                JUnitReport.Case(
                    name: unique("not finished", classname: classname), classname: classname, time: .zero,
                    outcome: .skipped(message: "not finished: \(interruption)", body: ""),
                    output: caseOutput(message: nil, logPath: logPath)))
        }
        let stepTime = scenario.steps.reduce(Duration.zero) { $0 + $1.duration }
        let trimmed = scenarioName.trimmingCharacters(in: .whitespacesAndNewlines)
        return JUnitReport.Suite(
            name: trimmed.isEmpty ? "unnamed" : scenarioName, package: "ebb.\(suiteName)",
            timestamp: JUnitReport.timestamp(scenario.startedAt), hostname: hostname,
            time: scenario.duration > .zero ? scenario.duration : stepTime,
            properties: properties, cases: cases,
            output: suiteOutput(scenario.steps, logPath: logPath, notes: notes))
    }

    /// Fixture rollbacks and other steps outside any scenario.
    mutating func setupSuite(_ steps: [StepResult]) -> JUnitReport.Suite {
        let cases = steps.map { testcase($0, classname: "ebb.setup", logPath: nil) }
        return JUnitReport.Suite(
            name: "setup", package: "ebb.setup",
            timestamp: JUnitReport.timestamp(steps.map(\.startedAt).min() ?? run.startedAt),
            hostname: hostname, time: steps.reduce(Duration.zero) { $0 + $1.duration },
            properties: runProperties() + stepProperties(steps), cases: cases,
            output: suiteOutput(steps, logPath: nil, notes: []))
    }

    private var interruption: String {
        run.signal.map { "run interrupted by \(SignalTrap.name(of: $0))" } ?? "run interrupted"
    }

    private func runProperties() -> [(name: String, value: String)] {
        var properties: [(name: String, value: String)] = []
        if let runID = run.runID { properties.append(("run-id", attribute(runID))) }
        properties.append(("host", hostname))
        if let journal = run.journalDirectory { properties.append(("journal", attribute(journal.path))) }
        return properties
    }

    /// Each step's facts, named `<step name>.<key>` (e.g. `inject: file.corrupt.target`).
    private func stepProperties(_ steps: [StepResult]) -> [(name: String, value: String)] {
        steps.flatMap { step in
            step.properties.sorted { $0.key < $1.key }.map {
                ("\(attribute(step.name)).\(attribute($0.key))", attribute($0.value))
            }
        }
    }

    private mutating func unique(_ name: String, classname: String) -> String {
        var hasher = Hasher()
        hasher.combine(classname)
        hasher.combine(name)  // each String hashes with a terminator, so the pair cannot be ambiguous
        let key = hasher.finalize()
        let count = seen[key, default: 0] + 1
        seen[key] = count
        return count == 1 ? name : "\(name) (\(count))"
    }

    private mutating func testcase(
        _ step: StepResult, classname scenarioClass: String, logPath: String?
    ) -> JUnitReport.Case {
        let classname = step.kind == .rollback ? scenarioClass + ".rollback" : scenarioClass
        let summary = step.message.map { TextHygiene.singleLine($0) }.flatMap { $0.isEmpty ? nil : $0 }
        let message = step.reportText
        let body = message.map { TextHygiene.sanitized($0, limit: limit, fullLog: logPath) } ?? ""
        let outcome: JUnitReport.Case.Outcome
        switch step.status {
        case .passed:
            outcome = .passed
        case .failed:
            outcome = .failure(
                type: "ebb.\(step.kind.rawValue).failed", message: summary ?? "\(attribute(step.name)) failed",
                body: body)
        case .error:
            outcome = .error(
                type: "ebb.\(step.kind.rawValue).error", message: summary ?? "\(attribute(step.name)) errored",
                body: body)
        case .skipped:
            // The one-line reason is usually all there is; repeat it as text only when it is longer.
            outcome = .skipped(message: summary ?? "skipped", body: body == summary ? "" : body)
        }
        return JUnitReport.Case(
            name: unique(attribute(step.name), classname: classname), classname: classname,
            time: step.duration, outcome: outcome,
            output: caseOutput(message: step.status == .passed ? message : nil, logPath: logPath))
    }

    /// Portable flavor: a passed step's message and the attachment (GitLab shows a case's
    /// system-out, and takes its first attachment, for failed cases). Ant: nothing allowed.
    private func caseOutput(message: String?, logPath: String?) -> String {
        guard options.flavor == .portable else { return "" }
        let attachment = logPath.map { "[[ATTACHMENT|\($0)]]" }
        let text = message.map {
            TextHygiene.sanitized($0, limit: max(0, limit - (attachment?.utf8.count ?? 0) - 1), fullLog: logPath)
        }
        return [text, attachment].compactMap { $0 }.joined(separator: "\n")
    }

    /// The suite's system-out: the attachment first (so truncation never drops it), notes,
    /// and in the Ant flavor the passed steps' messages, which its testcases cannot carry.
    private func suiteOutput(_ steps: [StepResult], logPath: String?, notes: [String]) -> String {
        var lines = logPath.map { ["[[ATTACHMENT|\($0)]]"] } ?? []
        lines += notes
        if options.flavor == .ant {
            for step in steps where step.status == .passed {
                guard let message = step.message, !message.isEmpty else { continue }
                lines.append("\(step.name): \(TextHygiene.sanitized(message, limit: limit, fullLog: logPath))")
            }
        }
        return TextHygiene.sanitized(lines.joined(separator: "\n"), limit: limit, fullLog: logPath)
    }
}
