import ArgumentParser
import EbbCore

@main
struct Ebb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ebb",
        abstract: "Run chaos scenarios in CI with guaranteed, verified rollback.",
        discussion: """
        Every fault's undo is written to a durable journal before the fault is injected, and every
        exit path (end, failure, SIGINT/SIGTERM/SIGHUP) rolls back newest-first and verifies it.
        After a crash, 'ebb rollback execute' recovers from the journal alone.

        Exit codes:
        \(ExitStatus.table)
        """,
        version: EbbVersion.current,
        subcommands: [RunCommand.self, ValidateCommand.self, PluginsCommand.self, RollbackCommand.self, DemoTargetCommand.self]
    )
}

enum EbbVersion {
    static let current = "0.1.0"
}
