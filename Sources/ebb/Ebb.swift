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
    /// The entry point. It is synchronous and waits for the command on a semaphore: an `async`
    /// main hands the main thread to `dispatch_main()`, whose `pthread_exit` unwinds the main
    /// thread's stack through the binary's unwind tables in every process. Nothing in Ebb runs on
    /// the main actor or the main queue, which this leaves idle.
    static func main() {
        // First, while this process has no other thread: both are safe only then.
        MallocArenas.limit()
        preforkedGuardian = wantsGuardian(CommandLine.arguments) ? PreforkedGuardian.fork() : nil
        signal(SIGPIPE, SIG_IGN)  // see Output: a closed pipe must not kill a run mid-fault
        let finished = DispatchSemaphore(value: 0)
        // Detached: `main` is on the main actor, and a task that inherited it would wait for this thread.
        Task.detached {
            await parseAndRun()
            finished.signal()
        }
        finished.wait()
    }

    /// The guardian forked at start-up for `ebb run` (see ``PreforkedGuardian``); nil for other
    /// commands, or when it could not be forked (the run then spawns its guardian).
    nonisolated(unsafe) static var preforkedGuardian: PreforkedGuardian?

    /// Whether `arguments` look like a run that starts a guardian. Read before the parser (the
    /// fork must come first), so it may err: a needless fork exits when ebb does, and a run
    /// without one spawns its guardian.
    private static func wantsGuardian(_ arguments: [String]) -> Bool {
        arguments.dropFirst().first == RunCommand.configuration.commandName
            && !arguments.contains { ["--no-guardian", "--dry-run", "--help", "-h"].contains($0) }
    }

    /// Parses and runs like argument-parser's own `main`, except that usage errors exit 3 (invalid
    /// input, as Ebb's exit-code table says) instead of the parser's 64.
    private static func parseAndRun() async {
        do {
            var command = try parseCommand()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            // How every run ends: the parser's handling would build a usage message it never prints.
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error).rawValue == 64 {
                Output.standardError(fullMessage(for: error) + "\n")
                Foundation.exit(ExitStatus.invalidInput.rawValue)
            }
            exit(withError: error)
        }
    }

    /// The command line parsed. Parsing from the root builds the parsers of the root and, to
    /// look for pass-through arguments, of the command again: `ebb run` and the guardian (whose
    /// arguments `ebb run` writes) are parsed by their own parser first, 1.1 ms less CPU per
    /// run. Help, version and completion requests, and any error, take the root's parser, so
    /// what people see (usage lines, `ebb run --help`) is the root's.
    private static func parseCommand() throws -> ParsableCommand {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == GuardianCommand.configuration.commandName {
            return try GuardianCommand.parseAsRoot(Array(arguments.dropFirst()))
        }
        let rootOnly = ["-h", "--help", "--version", "--generate-completion-script", "--experimental-dump-help"]
        if arguments.first == RunCommand.configuration.commandName,
            !arguments.contains(where: { argument in rootOnly.contains { argument.hasPrefix($0) } }),
            let command = try? RunCommand.parseAsRoot(Array(arguments.dropFirst()))
        {
            return command
        }
        return try parseAsRoot(arguments)
    }
}
