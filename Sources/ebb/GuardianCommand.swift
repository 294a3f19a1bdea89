import ArgumentParser
import EbbCore
import EbbReports
import Foundation

/// The detached watcher `ebb run` starts (hidden: people never run it themselves).
struct GuardianCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardian",
        abstract: "Watch a runner and roll its faults back if it dies (started by 'ebb run').",
        shouldDisplay: false
    )

    @Option var runDir: String
    @Option var runnerPid: Int32
    @Option var runnerStartTime: UInt64 = 0
    @Option var reportDir: String
    @Option var rollbackTimeout = DurationArgument(RollbackExecutor.defaultBudget)

    func run() throws {
        SecretRedactor.shared.registerInherited(from: ProcessInfo.processInfo.environment)
        let logger = Wiring.logger(verbose: true)
        let guardian = Guardian(
            runDirectory: URL(fileURLWithPath: runDir), runnerPID: runnerPid,
            runnerStartTime: runnerStartTime == 0 ? nil : runnerStartTime,
            catalog: Wiring.catalog, logger: logger, rollbackBudget: rollbackTimeout.duration)
        switch try guardian.watch() {
        case .runnerClosed:
            Output.standardOutput("runner \(runnerPid) closed its journal; nothing to do\n")
        case .journalRemoved:
            Output.standardOutput(
                "the journal of runner \(runnerPid) is being removed and holds nothing pending; nothing to do\n")
        case .recovered(let report):
            Output.standardOutput(JournalListing.recovery(report) + "\n")  // redacted, unlike print
            let reports = RunReports(reportDirectory: URL(fileURLWithPath: reportDir))
            Wiring.writeReports {
                try reports.write(
                    report, reader: JournalReader(holding: URL(fileURLWithPath: runDir)), actor: "guardian")
            }
            if !report.isComplete { throw ExitCode(.rollbackIncomplete) }
        }
    }
}
