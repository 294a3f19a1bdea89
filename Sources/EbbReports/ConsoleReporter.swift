import EbbCore
import Foundation

/// Prints a run as it happens, one line per event (readable in CI logs), and a closing table.
public final class ConsoleReporter: @unchecked Sendable {
    private let quiet: Bool
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()

    public init(quiet: Bool = false, write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) {
        self.quiet = quiet
        self.write = write
    }

    public func handle(_ event: RunEvent) {
        lock.withLock {
            if let line = line(for: event) { write(line) }
        }
    }

    private func line(for event: RunEvent) -> String? {
        switch event {
        case .signal(let number, let duringRollback):
            let name = Self.signalName(number)
            return duringRollback ? "! \(name) received: rollback is in progress and will finish first"
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
        case .fixtureReady(let name, let pid): return "setup: fixture \(name) ready (pid \(pid))"
        case .scenarioStarted(let suite, let name, let faults, let duration):
            return "\n== \(suite) / \(name): \(faults) fault(s), hold \(DurationText.format(duration))"
        case .holding(_, let duration): return "   holding for \(DurationText.format(duration))"
        case .step(_, let step):
            let message = step.message.map { ": \($0)" } ?? ""
            return "   \(Self.mark(step.status)) \(step.name)\(message)"
        case .rollingBack(let scenario, let faults): return "   rolling back \(faults) fault(s) of \(scenario), newest first"
        case .scenarioFinished(let result):
            return result.interrupted ? "   scenario \(result.name) interrupted" : nil
        case .signal, .runFinished: return nil
        }
    }

    /// The closing table: scenarios, faults reverted / failed / irreversible, exit code and meaning.
    public func summary(_ result: RunResult) -> String {
        let rollbacks = result.scenarios.flatMap(\.rollbacks).map(\.record)
        let reverted = rollbacks.filter { $0.state == .reverted }.count
        let failed = rollbacks.filter { $0.state.isPending }.count
        let irreversible = rollbacks.filter { $0.state == .irreversible }.count
        let passed = result.scenarios.filter { $0.status == .passed && !$0.interrupted }.count
        let setupFailures = result.setupSteps.filter { $0.status != .passed }
        var lines = [
            "",
            "Scenarios: \(result.scenarios.count) run, \(passed) passed",
            "Faults:    \(reverted) reverted, \(failed) failed to revert, \(irreversible) irreversible",
        ]
        for step in setupFailures { lines.append("Setup:     \(step.name) \(step.status.rawValue): \(step.message ?? "")") }
        for record in rollbacks where record.state.isPending {
            lines.append("  NOT REVERTED: \(record.scenario) / \(record.fault) on \(record.target): \(record.message ?? "")")
        }
        if let id = result.runID { lines.append("Journal:   \(result.journalDirectory?.path ?? "") (run \(id))") }
        let status = result.exitStatus
        lines.append("Exit \(status.rawValue): \(status.meaning)")
        return lines.joined(separator: "\n")
    }

    static func mark(_ status: StepResult.Status) -> String {
        switch status {
        case .passed: return "ok  "
        case .failed: return "FAIL"
        case .error: return "ERR "
        case .skipped: return "skip"
        }
    }

    static func signalName(_ number: Int32) -> String {
        switch number {
        case 1: return "SIGHUP"
        case 2: return "SIGINT"
        case 15: return "SIGTERM"
        default: return "signal \(number)"
        }
    }
}
