import ArgumentParser
import EbbChecks
import EbbCore
import EbbReports
import Foundation

struct RunCommand: AsyncParsableCommand {
    /// `_superCommandName` (argument-parser's experimental "super-command" setting) makes
    /// `RunCommand.parseAsRoot`, the fast path of `Ebb.parseCommand()`, skip the parser's check
    /// for a completion-script request: two more parses of the command line, 1.2 ms of CPU per
    /// run. That path never sees such a request, and help, completion and errors go through
    /// Ebb's root parser, which reads the setting from the root only: they are unchanged.
    static let configuration = CommandConfiguration(
        commandName: "run", _superCommandName: "ebb",
        abstract: "Run scenario suites: inject each fault, hold it, roll back and verify.",
        discussion: """
            Before a scenario's faults are injected their undo records are made durable in the \
            journal (<state-dir>/rollback/<start>-<run id>/). Whatever ends the run, every fault is \
            rolled back and verified: newest-first where faults share a target, up to --forks at \
            once otherwise; a second signal never interrupts a rollback.

            Refuses to start while the journal holds pending records of a dead run; recover \
            them with 'ebb rollback execute', or pass --recover to do so first.

            Faults with host:/hosts: run on the suite's hosts: over ssh: Ebb copies itself there \
            once, journals each fault on the host too, and a guardian on the host reverts it at \
            its deadline if this runner or the link dies. Up to --forks hosts are connected to at once.

            A suite's proxies (proxies:) run inside this process: if it dies, they die with it \
            and their clients get "connection refused"; the guardian's summary says so.

            Exit codes:
            \(ExitStatus.table)

            --fail-on maps these codes for CI gates without changing what they mean:
            \(FailurePolicy.allCases.map { "  \($0.rawValue.padded(toWidth: 9)) \($0.summary)" }.joined(separator: "\n"))
            """
    )

    @Argument(help: "Suite files (YAML). See Scenarios/README.md for the format.")
    var suites: [String]

    @OptionGroup var state: StateOptions

    @Option(help: ArgumentHelp("Folder for reports and fixture logs.", valueName: "dir"))
    var reportDir = "reports"

    @Option(
        name: .customLong("scenario"), help: ArgumentHelp("Run only this scenario (repeatable).", valueName: "name"))
    var scenarios: [String] = []

    @Flag(help: "Resolve targets and print each fault and its undo, touching nothing.")
    var dryRun = false

    @Flag(help: "Execute pending records of dead runs first, then run.")
    var recover = false

    @Option(help: ArgumentHelp("The JUnit file (default: <report-dir>/junit.xml).", valueName: "path"))
    var junit: String?

    @Option(
        help:
            "JUnit dialect: portable (validates against Jenkins xUnit's junit-10.xsd; GitLab, GitHub reporters) or ant (Ant's JUnit.xsd; Azure DevOps)."
    )
    var junitFlavor: JUnitFlavor = .portable

    @Option(
        help: ArgumentHelp(
            "Bytes of step output kept per JUnit text node (head and tail); the full text is in reports/logs.",
            valueName: "bytes"))
    var junitMaxOutput = 64 * 1024

    @Option(
        help: ArgumentHelp(
            "Added to each fault's hold to form its deadline, counted from the fault's injection: past it, the guardian reverts the fault even if the runner still lives but is stuck (and the scenario fails). From 100ms to 24h (default 30s).",
            valueName: "duration"),
        transform: DeadlineGrace.init(parsing:))
    var deadlineGrace = DeadlineGrace(.seconds(30))

    @Option(
        help: ArgumentHelp(
            "Time budget of each rollback (a scenario's, the fixtures', a recovery's): undos still waiting when it runs out are recorded revert-failed (exit 2) instead of hanging the job.",
            valueName: "duration"))
    var rollbackTimeout = DurationArgument(RollbackExecutor.defaultBudget)

    @Option(
        help: ArgumentHelp(
            "How many faults of a scenario are planned, prepared and injected at once (on many hosts: how many are connected to at once), and how many undos of unrelated targets run at once; 1 does everything in file order, newest-first on rollback.",
            valueName: "n"))
    var forks = Forks.defaultLimit

    @Flag(
        help: "Do not start the guardian (UNSAFE: if ebb is SIGKILLed, its faults stay until 'ebb rollback execute').")
    var noGuardian = false

    @Flag(help: "Print only signals and the final summary.")
    var quiet = false

    @Option(
        help: ArgumentHelp(
            "Console output: text (live on a terminal, one line per event otherwise) or json (one object per event).",
            valueName: "format"))
    var logFormat: LogFormat = .text

    @Flag(help: "Log undo retries and other details to stderr.")
    var verbose = false

    @Option(
        help: ArgumentHelp(
            "Which outcomes fail the job: any (every non-zero code), checks (1 and 2; an inconclusive run exits 0) or rollback (only 2; failed checks and inconclusive runs exit 0). Invalid input (3) always fails.",
            valueName: "policy"))
    var failOn: FailurePolicy = .any

    @Option(
        help: ArgumentHelp(
            "Push the run's results (faults injected, reverted and failed, rollback durations, check outcomes) to this Prometheus Pushgateway under job 'ebb'.",
            valueName: "url"))
    var pushgateway: String?

    func validate() throws {
        guard forks >= 1 else { throw ValidationError("--forks \(forks): must be at least 1") }
        if let pushgateway,
            URL(string: pushgateway)?.host == nil
                || !["http", "https"].contains(URL(string: pushgateway)?.scheme ?? "")
        {
            throw ValidationError("--pushgateway \(pushgateway): not an http:// or https:// URL")
        }
    }

    func run() async throws {
        let loaded: [Suite]
        Wiring.remoteFleet.forks = forks
        do {
            loaded = try suites.map(Wiring.loader.load(path:))
        } catch {
            Wiring.printError("\(error)")
            throw ExitCode(.invalidInput)
        }
        let known = Set(loaded.flatMap { $0.scenarios.map(\.name) })
        if let unknown = scenarios.first(where: { !known.contains($0) }) {
            Wiring.printError(
                "error: --scenario \(unknown): no such scenario (have: \(known.sorted().joined(separator: ", ")))")
            throw ExitCode(.invalidInput)
        }
        let logger = Wiring.logger(verbose: verbose)
        let options = Runner.Options(
            stateDirectory: state.directory,
            reportDirectory: URL(fileURLWithPath: reportDir).standardizedFileURL,
            scenarioNames: scenarios, rollbackGrace: deadlineGrace.duration,
            rollbackBudget: rollbackTimeout.duration, registry: HostRegistry.standard, forks: forks,
            services: Wiring.services)
        let console = ConsoleReporter(style: logFormat == .json ? .json : ConsoleReporter.terminalStyle, quiet: quiet)
        let reports = RunReports(
            reportDirectory: options.reportDirectory,
            junitPath: junit.map { URL(fileURLWithPath: $0).standardizedFileURL },
            flavor: junitFlavor, maxOutputBytes: junitMaxOutput)
        let runner = Runner(suites: loaded, catalog: Wiring.catalog, options: options, logger: logger) { event in
            reports.logs.handle(event)
            console.handle(event)
        }

        if dryRun {
            let planned = runner.dryRun()
            Output.standardOutput(DryRunListing.text(planned, suites: loaded) + "\n")  // redacted, unlike print
            throw ExitCode(planned.contains { (try? $0.plan.get()) == nil } ? .inconclusive : .passed)
        }

        runner.prepareChecks()
        var recovery = Recovery(
            stateDirectory: state.directory, catalog: Wiring.catalog, actor: "run --recover", logger: logger)
        recovery.rollbackBudget = rollbackTimeout.duration
        let dead: [RunSnapshot]
        do {
            let runs = try recovery.reader.runs(skippingSettledRecords: true)
            for stray in runs where stray.isStray {
                Wiring.printError("warning: \(stray.directory.path): \(stray.problem ?? "not a run")")
            }
            dead = runs.filter(\.needsRecovery)
        } catch {
            Wiring.printError("error: cannot read the journal in \(state.directory.path): \(error)")
            throw ExitCode(.invalidInput)
        }
        if !dead.isEmpty {
            guard recover else {
                Wiring.printError(
                    """
                    error: \(dead.count) earlier run(s) in \(state.directory.path) are not running but still have pending or unreadable records: \(dead.map(\.id).joined(separator: ", ")). \
                    Their faults may still be in place. Inspect them with 'ebb rollback list', revert them with \
                    'ebb rollback execute --all', or pass --recover to do that before this run. A run that can never \
                    be recovered (its host is gone, a record never verifies) is taken out with 'ebb rollback forget --run ID'.
                    """)
                throw ExitCode(.invalidInput)
            }
            let complete = Wiring.withoutInterruption { Wiring.recover(dead, with: recovery, reports: reports) }
            guard complete else {
                Wiring.printError("error: recovery of earlier runs is incomplete; not starting a new run")
                throw ExitCode(.rollbackIncomplete)
            }
        }

        let guardian = GuardianLauncher(
            reportDirectory: options.reportDirectory, rollbackBudget: rollbackTimeout.duration,
            deadlineGrace: deadlineGrace.duration, preforked: Ebb.preforkedGuardian)
        let journal: RunJournal
        do {
            journal = try runner.openJournal(guardian: noGuardian ? nil : guardian)
        } catch let failure as GuardianLauncher.Failure {
            Wiring.printError(
                "error: cannot start the guardian (\(failure)); not injecting anything. Use --no-guardian to run without one."
            )
            throw ExitCode(.invalidInput)
        } catch {
            Wiring.printError("error: cannot create the journal in \(state.directory.path): \(error)")
            throw ExitCode(.invalidInput)
        }
        let result = await runner.runTrappingSignals(journal: journal)
        Wiring.writeReports { try reports.write(result) }
        if let pushgateway, let url = URL(string: pushgateway) {
            do {
                try await RunMetrics(result: result, suites: loaded.map(\.name)).push(to: url)
            } catch {
                Wiring.printError("warning: could not push run metrics to \(pushgateway): \(error)")
            }
        }
        let code = failOn.exitCode(for: result.exitStatus)
        if code != result.exitStatus.rawValue {
            Wiring.printError(
                "--fail-on \(failOn.rawValue): exit \(result.exitStatus.rawValue) (\(result.exitStatus.meaning)) does not fail the job; exiting \(code)"
            )
        }
        throw ExitCode(code)
    }
}

extension FailurePolicy: ExpressibleByArgument {}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
