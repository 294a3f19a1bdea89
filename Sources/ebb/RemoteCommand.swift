import ArgumentParser
import EbbCore
import EbbFaults
import Foundation
import Logging

/// What `ebb run` starts on a remote host over ssh (hidden: people never run it themselves).
struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Ebb's side on a remote host (started over ssh by 'ebb run' for faults with 'host:').",
        shouldDisplay: false,
        subcommands: [Agent.self, Undo.self, Verify.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "The host's state directory.") var stateDir: String
        @Option(help: "The host's run (the runner's run id and the host name).") var runId: String

        var stateDirectory: URL { URL(fileURLWithPath: stateDir).standardizedFileURL }
    }

    struct Agent: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "agent",
            abstract: "Serve the runner's requests on stdin; keep this host's journal and guardian.")
        @OptionGroup var location: Location
        @Flag var verbose = false

        func run() throws {
            let agent = RemoteAgent(
                stateDirectory: location.stateDirectory, runID: location.runId, catalog: Wiring.catalog,
                logger: Wiring.logger(verbose: verbose), guardian: GuardianLauncher())
            throw ExitCode(agent.serve())
        }
    }

    struct Undo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "undo",
            abstract: "Take one record of this host's run back and verify it; print the outcome as JSON.")
        @OptionGroup var record: Record

        func run() throws { try record.perform(.undo) }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Prove one record of this host's run is gone; print the outcome as JSON.")
        @OptionGroup var record: Record

        func run() throws { try record.perform(.verify) }
    }

    /// One record of the host's run, and what `undo` and `verify` do with it.
    struct Record: ParsableArguments {
        @OptionGroup var location: Location
        @Option var sequence: Int

        func perform(_ action: RemoteRecords.Action) throws {
            let outcome = RemoteRecords.perform(
                action, stateDirectory: location.stateDirectory, runID: location.runId, sequence: sequence,
                catalog: Wiring.catalog, logger: Wiring.logger(verbose: false))
            Output.standardOutput(String(decoding: try JSONEncoder().encode(outcome), as: UTF8.self) + "\n")
            if outcome.state == .failed { throw ExitCode(1) }
        }
    }
}
