import EbbCore
import Foundation
import Synchronization

/// Prints a run as it happens and a closing table. Three styles: `plain` (one line per event,
/// for CI logs), `live` (plain plus a ticking hold timer, for terminals) and `json` (one JSON
/// object per event, for machines).
public final class ConsoleReporter: Sendable {
    public enum Style: String, Sendable {
        case plain, live, json
    }

    private let style: Style
    private let quiet: Bool
    private let write: @Sendable (String) -> Void
    /// The hold timer of the live style; events are written under its lock so their lines never
    /// interleave with each other or with the timer's.
    private let ticker = Mutex<(any DispatchSourceTimer)?>(nil)

    public init(
        style: Style = .plain, quiet: Bool = false,
        write: @escaping @Sendable (String) -> Void = { Output.standardOutput($0 + "\n") }
    ) {
        self.style = style
        self.quiet = quiet
        self.write = write
    }

    /// The style for standard output: `live` on a terminal, else `plain`.
    public static var terminalStyle: Style { isatty(STDOUT_FILENO) == 1 ? .live : .plain }

    public func handle(_ event: RunEvent) {
        ticker.withLock { ticker in
            Self.stop(&ticker)
            if style == .json {
                if let line = Self.json(event) { write(line) }
                return
            }
            if let line = line(for: event) { write(line) }
            if style == .live, !quiet, case .holding(let scenario, let duration) = event {
                ticker = Self.startTicker(scenario, duration)
            }
        }
    }

    /// Rewrites one terminal line with elapsed and remaining hold time until the next event.
    private static func startTicker(_ scenario: String, _ duration: Duration) -> any DispatchSourceTimer {
        let start = ContinuousClock.now
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "ebb.console.ticker"))
        timer.schedule(deadline: .now() + 0.25, repeating: 0.25)
        timer.setEventHandler {
            let elapsed = (ContinuousClock.now - start).seconds
            let remaining = max(0, duration.seconds - elapsed)
            let text = String(
                format: "\r   %@: holding, %.1fs elapsed, %.1fs remaining\u{1B}[K", scenario, elapsed, remaining)
            Output.standardOutput(text)
        }
        timer.resume()
        return timer
    }

    private static func stop(_ ticker: inout (any DispatchSourceTimer)?) {
        guard let timer = ticker else { return }
        timer.cancel()
        ticker = nil
        Output.standardOutput("\r\u{1B}[K")
    }

    private func line(for event: RunEvent) -> String? {
        switch event {
        case .signal(let number, let duringRollback):
            let name = SignalTrap.name(of: number)
            return duringRollback
                ? "! \(name) received: rollback is in progress and will finish first"
                : "! \(name) received: stopping, rolling everything back"
        case .runFinished(let result):
            return summary(result)
        default:
            return quiet ? nil : progress(event)
        }
    }

    private func progress(_ event: RunEvent) -> String? {
        switch event {
        case .runStarted(let id, let journal): return "ebb run \(id): journal \(journal.path)"
        case .fixtureReady(let name, let pid, let host):
            return "setup: fixture \(name) ready (pid \(pid)\(host.map { " on host \($0)" } ?? ""))"
        case .scenarioStarted(let suite, let name, let faults, let duration):
            return "\n== \(suite) / \(name): \(faults) fault(s), hold \(DurationText.format(duration))"
        case .holding(_, let duration): return "   holding for \(DurationText.format(duration))"
        case .holdEnded(_, let reason): return "   ! hold ended early: \(reason)"
        case .step(_, let step):
            let message = step.message.map { ": \($0)" } ?? ""
            return "   \(Self.mark(step.status)) \(step.name)\(message)"
        case .rollingBack(let scenario, let faults):
            return "   rolling back \(faults) fault(s) of \(scenario), newest first"
        case .scenarioFinished(let result):
            return result.interrupted ? "   scenario \(result.name) interrupted" : nil
        case .signal, .runFinished: return nil
        }
    }

    /// The closing table: scenarios, faults reverted / failed / irreversible, exit code and meaning.
    public func summary(_ result: RunResult) -> String {
        let results = result.scenarios.flatMap(\.rollbacks)
        let rollbacks = results.map(\.record)
        let reverted = results.filter { $0.record.state == .reverted && $0.journalProblem == nil }.count
        let failed = results.filter { $0.record.state.isPending || $0.journalProblem != nil }.count
        let irreversible = rollbacks.filter { $0.state == .irreversible }.count
        let passed = result.scenarios.filter { $0.status == .passed && !$0.interrupted }.count
        let notRun = result.scenarios.filter { $0.steps.allSatisfy { $0.kind == .preflight && $0.status != .passed } }
            .count
        let setupFailures = result.setupSteps.filter { $0.status != .passed }
        var lines = [
            "",
            "Scenarios: \(result.scenarios.count - notRun) run, \(passed) passed, \(notRun) not run",
            "Faults:    \(reverted) reverted, \(failed) failed to revert, \(irreversible) irreversible",
        ]
        for step in setupFailures {
            lines.append("Setup:     \(step.name) \(step.status.rawValue): \(step.message ?? "")")
        }
        for record in rollbacks where record.state.isPending {
            lines.append(
                "  NOT REVERTED: \(record.scenario) / \(record.fault) on \(record.target): \(record.message ?? "")")
        }
        if let id = result.runID { lines.append("Journal:   \(result.journalDirectory?.path ?? "") (run \(id))") }
        let status = result.exitStatus
        lines.append("Exit \(status.rawValue): \(status.meaning)")
        return lines.joined(separator: "\n")
    }

    /// One event as a JSON object on one line.
    static func json(_ event: RunEvent) -> String? {
        var object: [String: JSONValue] = [
            "time": .string(UTCTime.string(Date()))
        ]
        switch event {
        case .runStarted(let id, let journal):
            object.merge(["event": .string("run-started"), "run": .string(id), "journal": .string(journal.path)]) { $1 }
        case .fixtureReady(let name, let pid, let host):
            object.merge(["event": .string("fixture-ready"), "fixture": .string(name), "pid": .number(Double(pid))]) {
                $1
            }
            if let host { object["host"] = .string(host) }
        case .scenarioStarted(let suite, let name, let faults, let duration):
            object.merge([
                "event": .string("scenario-started"), "suite": .string(suite), "scenario": .string(name),
                "faults": .number(Double(faults)), "holdSeconds": .number(duration.seconds),
            ]) { $1 }
        case .holding(let scenario, let duration):
            object.merge([
                "event": .string("holding"), "scenario": .string(scenario), "holdSeconds": .number(duration.seconds),
            ]) { $1 }
        case .step(let scenario, let step):
            object.merge([
                "event": .string("step"), "scenario": .string(scenario), "kind": .string(step.kind.rawValue),
                "name": .string(step.name), "status": .string(step.status.rawValue),
                "message": step.message.map(JSONValue.string) ?? .null, "seconds": .number(step.duration.seconds),
                "properties": .object(step.properties.mapValues(JSONValue.string)),
                "measured": step.measured.map(JSONValue.string) ?? .null,
                "limit": step.limit.map(JSONValue.string) ?? .null,
            ]) { $1 }
        case .holdEnded(let scenario, let reason):
            object.merge(["event": .string("hold-ended"), "scenario": .string(scenario), "reason": .string(reason)]) {
                $1
            }
        case .rollingBack(let scenario, let faults):
            object.merge([
                "event": .string("rolling-back"), "scenario": .string(scenario), "faults": .number(Double(faults)),
            ]) { $1 }
        case .scenarioFinished(let result):
            object.merge([
                "event": .string("scenario-finished"), "scenario": .string(result.name),
                "interrupted": .bool(result.interrupted), "exitCode": .number(Double(result.status.rawValue)),
            ]) { $1 }
        case .signal(let number, let duringRollback):
            object.merge([
                "event": .string("signal"), "signal": .string(SignalTrap.name(of: number)),
                "duringRollback": .bool(duringRollback),
            ]) { $1 }
        case .runFinished(let result):
            object.merge([
                "event": .string("run-finished"), "exitCode": .number(Double(result.exitStatus.rawValue)),
                "meaning": .string(result.exitStatus.meaning),
            ]) { $1 }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))).map { String(decoding: $0, as: UTF8.self) }
    }

    static func mark(_ status: StepResult.Status) -> String {
        switch status {
        case .passed: return "ok  "
        case .failed: return "FAIL"
        case .error: return "ERR "
        case .skipped: return "skip"
        }
    }

}
