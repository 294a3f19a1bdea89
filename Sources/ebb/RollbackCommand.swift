import ArgumentParser
import EbbCore
import EbbReports
import Foundation

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Inspect and execute the rollback journal (offline: needs no suite).",
        subcommands: [ListCommand.self, ExecuteCommand.self, ForgetCommand.self, SweepCommand.self]
    )

    struct ListCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show every run and undo record with its state.",
            discussion:
                "Record states: armed -> injected -> reverted | revert-failed | irreversible. Damaged records are shown, never hidden."
        )

        @OptionGroup var state: StateOptions
        @Option(
            name: .customLong("run"), help: ArgumentHelp("Show only this run (id or directory name).", valueName: "id"))
        var runID: String?
        @Flag(help: "Print JSON for tools.") var json = false

        func run() throws {
            let reader = JournalReader(stateDirectory: state.directory)
            var runs = try Wiring.readJournal { try reader.runs() }
            if let id = runID {
                runs = runs.filter { $0.id == id || $0.directory.lastPathComponent == id }
                guard !runs.isEmpty else {
                    Wiring.printError("error: no run \(id) in \(reader.rollbackDirectory.path)")
                    throw ExitCode(.invalidInput)
                }
            }
            print(json ? try JournalListing.json(runs) : JournalListing.text(runs))
        }
    }

    struct ExecuteCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "execute",
            abstract: "Run the pending undo records of a run (or of every dead run), newest first.",
            discussion: """
                Works from the journal alone. Each undo is retried, verified and recorded; one failure \
                never stops the others. Live runs are refused. Running it twice is harmless. \
                A fault on a remote host is confirmed through that host's own journal over ssh (its \
                guardian may already have reverted it); an unreachable host stays pending. \
                Exit 0 when everything is verified reverted, 2 when anything is not (or a record is damaged).
                """
        )

        @OptionGroup var state: StateOptions
        @Option(
            name: .customLong("run"), help: ArgumentHelp("The run to execute (id or directory name).", valueName: "id"))
        var runID: String?
        @Flag(help: "Execute every run that is not live and has pending records, and close dead runs left open.")
        var all = false
        @Flag(help: "Log undo retries to stderr.") var verbose = false
        @Flag(
            help: "Also execute runs recorded on another host (only when their targets are shared, e.g. files on NFS).")
        var allowOtherHost = false
        @Option(
            help: ArgumentHelp(
                "Folder for the rollback summary of each executed run (rollback-summary-<run id>.json/.md).",
                valueName: "dir"))
        var reportDir = "reports"
        @Option(
            help: ArgumentHelp(
                "Time budget of each run's rollback; undos still waiting when it runs out are recorded revert-failed (exit 2).",
                valueName: "duration"))
        var rollbackTimeout: DurationArgument = DurationArgument(RollbackExecutor.defaultBudget)

        func validate() throws {
            guard (runID == nil) == all else { throw ValidationError("give exactly one of --run ID or --all") }
        }

        func run() throws {
            try Wiring.withoutInterruption(execute)
        }

        private func execute() throws {
            // EBB_SECRET_ENV=NAME,... names variables whose values must not reach the output.
            SecretRedactor.shared.registerInherited(from: ProcessInfo.processInfo.environment)
            var recovery = Recovery(
                stateDirectory: state.directory, catalog: Wiring.catalog, logger: Wiring.logger(verbose: verbose))
            recovery.allowsOtherHosts = allowOtherHost
            recovery.rollbackBudget = rollbackTimeout.duration
            let targets: [RunSnapshot]
            if let id = runID {
                guard let found = try Wiring.readJournal({ try recovery.reader.run(id: id) }) else {
                    Wiring.printError("error: no run \(id) in \(recovery.reader.rollbackDirectory.path)")
                    throw ExitCode(.invalidInput)
                }
                targets = [found]
            } else {
                let runs = try Wiring.readJournal { try recovery.reader.runs(skippingSettledRecords: true) }
                for stray in runs where stray.isStray {
                    Wiring.printError("warning: \(stray.directory.path): \(stray.problem ?? "not a run")")
                }
                // Also a dead run still marked open with nothing pending (its runner reverted
                // everything, then died before closing): executing it only closes it.
                targets = runs.filter { !$0.isLive && ($0.needsRecovery || (!$0.isStray && $0.info?.status == .open)) }
                if targets.isEmpty { print("Nothing to execute: no dead run has pending records.") }
            }
            let reports = RunReports(reportDirectory: URL(fileURLWithPath: reportDir).standardizedFileURL)
            let complete = Wiring.recover(targets, with: recovery, reports: reports)
            if !complete { throw ExitCode(.rollbackIncomplete) }
        }
    }

    struct ForgetCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract: "Take a run that can never be recovered out of the journal (kept in <state-dir>/archive/).",
            discussion: """
                For a run that blocks 'ebb run' and cannot be executed: recorded on a machine that is \
                gone, a record that can never verify, a damaged or half-written run directory. The run \
                directory moves to <state-dir>/archive/, nothing is deleted and nothing is reverted. \
                A run with pending or damaged records may still have faults in place: forgetting it \
                needs --yes, and the command lists what may be left. Live runs are refused.
                """
        )

        @OptionGroup var state: StateOptions
        @Option(
            name: .customLong("run"), help: ArgumentHelp("The run to forget (id or directory name).", valueName: "id"))
        var runID: String
        @Flag(
            help:
                "Forget the run even though some of its records are pending or damaged (their faults may still be in place)."
        )
        var yes = false

        func run() throws {
            let reader = JournalReader(stateDirectory: state.directory)
            guard let run = try Wiring.readJournal({ try reader.run(id: runID) }) else {
                Wiring.printError("error: no run \(runID) in \(reader.rollbackDirectory.path)")
                throw ExitCode(.invalidInput)
            }
            let pending = run.records.filter(\.state.isPending)
            let unsure =
                pending.map { "  \($0.fileName): \($0.state.rawValue), \($0.fault) on \($0.target)" }
                + run.damaged.map { "  \($0.path): damaged (\($0.problem))" }
            if !unsure.isEmpty && !yes {
                Wiring.printError(
                    """
                    error: run \(run.id) has \(unsure.count) record(s) that are not verified reverted; their faults may still be in place:
                    \(unsure.joined(separator: "\n"))
                    Revert them by hand (or with 'ebb rollback execute --run \(run.id)' where that can work), then pass --yes to forget the run.
                    """)
                throw ExitCode(.invalidInput)
            }
            let archived: URL
            do {
                archived = try JournalArchive.forget(run, stateDirectory: state.directory)
            } catch {
                Wiring.printError("error: \(error)")
                throw ExitCode(.invalidInput)
            }
            print("forgot run \(run.id): moved to \(archived.path)")
            if !unsure.isEmpty {
                print("not reverted by Ebb, check by hand:\n\(unsure.joined(separator: "\n"))")
            }
        }
    }
}
