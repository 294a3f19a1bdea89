import ArgumentParser
import EbbCore
import Foundation

@main
struct Ebb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ebb",
        abstract: "Run chaos scenarios in CI with guaranteed, verified rollback.",
        discussion: """
            Every fault's undo is written to a durable journal before the fault is injected, and every \
            exit path (end, failure, SIGINT/SIGTERM/SIGHUP) rolls back newest-first and verifies it. \
            After a crash, 'ebb rollback execute' recovers from the journal alone.

            Exit codes:
            \(ExitStatus.table)
            """,
        version: EbbVersion.current,
        subcommands: [
            RunCommand.self, ValidateCommand.self, PluginsCommand.self, SchemaCommand.self, RollbackCommand.self,
            ReportCommand.self, DemoTargetCommand.self, GuardianCommand.self, RemoteCommand.self, BenchCommand.self,
            HogWorkerCommand.self, DelayWorkerCommand.self,
        ]
    )
}

extension Ebb {
    /// Parses and runs like argument-parser's own `main`, except that usage errors exit 3 (invalid
    /// input, as Ebb's exit-code table says) instead of the parser's 64.
    static func main() async {
        signal(SIGPIPE, SIG_IGN)  // see Output: a closed pipe must not kill a run mid-fault
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error).rawValue == 64 {
                Output.standardError(fullMessage(for: error) + "\n")
                Foundation.exit(ExitStatus.invalidInput.rawValue)
            }
            exit(withError: error)
        }
    }
}
