import ArgumentParser
import EbbCore
import EbbFaults
import EbbReports
import Foundation

/// `ebb rollback sweep`: reverts what dead jobs left behind, without their journal.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Revert faults past their deadline that no Ebb process is watching any more, without the journal.",
        discussion: """
        For when the runner, its guardian and the CI workspace holding the journal all died \\
        (a cancelled job, an evicted pod, a lost VM). Every run's records are also copied to a \\
        host registry outside the workspace ($EBB_REGISTRY_DIR, else /var/lib/ebb/registry for \\
        root, else $XDG_STATE_HOME/ebb/registry). The sweep reverts, verified, each pending \\
        record whose deadline has passed and whose runner is dead, from the journal if it still \\
        exists, else from the registry; records before their deadline are left alone. It also \\
        deletes Ebb's nft tables whose expiry (in their comment) has passed, in the host's and \\
        every named network namespace, even with no record left. Running it again, or from \\
        several places at once, is harmless. Writes rollback-summary-sweep-<time>.json/.md; \\
        exit 0 when nothing is left, 2 when something could not be reverted.
        """
    )

    @Option(help: ArgumentHelp("Folder for the sweep's summary.", valueName: "dir"))
    var reportDir = "reports"
    @Option(help: ArgumentHelp("Time budget of each run's rollback.", valueName: "duration"))
    var rollbackTimeout = DurationArgument(RollbackExecutor.defaultBudget)
    @Flag(help: "Log undo retries to stderr.") var verbose = false

    func run() throws {
        try Wiring.withoutInterruption(sweep)
    }

    private func sweep() throws {
        let now = Date()
        var entries: [SweepSummary.Entry] = []
        if let registry = HostRegistry.standard {
            var sweep = HostSweep(registry: registry, catalog: Wiring.catalog, logger: Wiring.logger(verbose: verbose))
            sweep.rollbackBudget = rollbackTimeout.duration
            let outcomes: [HostSweep.Outcome]
            do {
                outcomes = try sweep.sweep(now: now)
            } catch {
                Wiring.printError("error: cannot read the host registry \(registry.directory.path): \(error)")
                throw ExitCode(.invalidInput)
            }
            for outcome in outcomes {
                print(outcome.skipped.map { "run \(outcome.report.runID): left alone: \($0)" } ?? JournalListing.recovery(outcome.report))
                entries += SweepSummary.entries(of: outcome)
            }
            let live = Set(outcomes.filter { $0.skipped?.contains("alive") == true || $0.skipped?.contains("live") == true }.map(\.report.runID))
            for removal in NftOrphanSweep.sweep(now: now, liveRuns: live) {
                print("nft table \(removal.table) in \(removal.namespace) (expired \(removal.expiredAt)): " + (removal.problem ?? "deleted"))
                entries.append(SweepSummary.Entry(source: "nft", target: "\(removal.table) in \(removal.namespace)", kind: "network.nft-delete",
                                                  state: removal.problem == nil ? "reverted" : RecordState.revertFailed.rawValue,
                                                  message: removal.problem))
            }
        } else {
            print("host sweep: no registry (EBB_REGISTRY_DIR=off)")
        }
        let summary = SweepSummary(sweptAt: now, entries: entries)
        Wiring.writeReports { try summary.write(to: URL(fileURLWithPath: reportDir).standardizedFileURL) }
        if entries.allSatisfy({ $0.state == "skipped" }) { print("Nothing to sweep: no fault past its deadline is left.") }
        if summary.exitStatus != 0 { throw ExitCode(.rollbackIncomplete) }
    }
}
