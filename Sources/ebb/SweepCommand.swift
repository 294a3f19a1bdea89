import ArgumentParser
import EbbCore
import EbbFaults
import EbbReports
import Foundation

extension RollbackCommand {
    struct SweepCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sweep",
            abstract: "Revert faults past their deadline that no Ebb process watches any more, without the journal.",
            discussion: """
                For when the runner, its guardian and the CI workspace holding the journal all died \
                (a cancelled job, an evicted pod, a lost VM).

                On this host (the default): every run's records are also copied to a host registry \
                outside the workspace ($EBB_REGISTRY_DIR, else /var/lib/ebb/registry for root, else \
                $XDG_STATE_HOME/ebb/registry). The sweep reverts, verified, each pending record whose \
                deadline has passed and whose runner is dead, from the journal if it still exists, \
                else from the registry. Even with no record left, it takes back what carries its \
                expiry on the target: Ebb's nft tables (and the qdiscs and iptables rules they mark) \
                in the host's and every named network namespace, and Ebb's cgroups (from their \
                trusted.ebb.fault attribute).

                With --kubernetes: finds the objects labelled ebb.dev/run whose ebb.dev/expires-at \
                has passed and reverts them from their ebb.dev/undo annotation, verified; objects \
                not expired yet, or not provably Ebb's, are listed and left alone. Add --host to \
                sweep this host too.

                Faults before their deadline are left alone. Safe to run from many places at once \
                and repeatedly. Writes rollback-summary-sweep-<time>.json/.md when it reverted or \
                failed to revert anything. Exit 0 when \
                everything expired was verified reverted, 2 when anything was not.
                """
        )

        @Flag(help: "Sweep Kubernetes objects (instead of this host, unless --host is given too).") var kubernetes =
            false
        @Flag(help: "Sweep this host's registry and marked faults (the default without --kubernetes).") var host = false
        @Option(
            help: ArgumentHelp(
                "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account).",
                valueName: "path"))
        var kubeconfig: String?
        @Option(help: ArgumentHelp("kubeconfig context (default: its current-context).", valueName: "name"))
        var context: String?
        @Option(
            help: ArgumentHelp(
                "Sweep this namespace (default: the context's). Nodes are always swept.", valueName: "name"))
        var namespace: String?
        @Flag(help: "Sweep every namespace.") var allNamespaces = false
        @Flag(help: "Kubernetes only: list what would be reverted, change nothing.") var dryRun = false
        @Option(help: ArgumentHelp("Time budget of each host run's rollback.", valueName: "duration"))
        var rollbackTimeout = DurationArgument(RollbackExecutor.defaultBudget)
        @Flag(help: "Log undo retries to stderr.") var verbose = false
        @Option(help: ArgumentHelp("Folder for rollback-summary-sweep-<time>.json/.md.", valueName: "dir"))
        var reportDir = "reports"

        func validate() throws {
            if namespace != nil && allNamespaces {
                throw ValidationError("give --namespace or --all-namespaces, not both")
            }
            if dryRun && !kubernetes { throw ValidationError("--dry-run applies to --kubernetes only") }
        }

        func run() throws {
            try Wiring.withoutInterruption(sweep)
        }

        private func sweep() throws {
            let started = Date()
            var results: [RollbackResult] = []
            var problems: [String] = []
            if host || !kubernetes { try sweepHost(now: started, into: &results, problems: &problems) }
            if kubernetes { try sweepKubernetes(now: started, into: &results, problems: &problems) }
            // Only a sweep that found something writes a summary: a timer sweeping every minute
            // must not leave a file a minute.
            if !dryRun && !(results.isEmpty && problems.isEmpty) {
                let name = RollbackSummary.sweepName(at: started)
                let summary = RollbackSummary(sweep: name, results: results, problems: problems, actor: HostSweep.actor)
                Wiring.writeReports {
                    try SummaryFiles.write(
                        summary, to: URL(fileURLWithPath: reportDir).standardizedFileURL,
                        baseName: "rollback-summary-\(name)")
                }
            }
            if !problems.isEmpty || !results.allSatisfy(\.succeeded) { throw ExitCode(.rollbackIncomplete) }
        }

        private func sweepHost(now: Date, into results: inout [RollbackResult], problems: inout [String]) throws {
            guard let registry = HostRegistry.standard else {
                Output.standardOutput(
                    "host: no registry (EBB_REGISTRY_DIR=off); only faults marked on their targets are swept\n")
                return sweepMarked(now: now, liveRuns: [], into: &results)
            }
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
                Output.standardOutput(
                    (outcome.skipped.map { "run \(outcome.report.runID): left alone: \($0)" }
                        ?? JournalListing.recovery(outcome.report)) + "\n")
                results += outcome.report.results
                problems += outcome.report.damaged.map { "\($0.path): \($0.problem)" }
            }
            let live = Set(outcomes.filter(\.isLive).map(\.report.runID))
            sweepMarked(now: now, liveRuns: live, into: &results)
            if outcomes.allSatisfy({ $0.skipped != nil }) && results.isEmpty {
                Output.standardOutput("Nothing to sweep on this host: no fault past its deadline is left.\n")
            }
        }

        /// Faults no record knows of, found by the expiry marked on their targets: nft tables
        /// (with the qdiscs and rules they mark) and cgroups.
        private func sweepMarked(now: Date, liveRuns: Set<String>, into results: inout [RollbackResult]) {
            for removal in NftOrphanSweep.sweep(now: now, liveRuns: liveRuns) {
                let leftovers = removal.leftovers.isEmpty ? "" : " with \(removal.leftovers.joined(separator: ", "))"
                Output.standardOutput(
                    "nft table \(removal.table) in \(removal.namespace)\(leftovers), expired \(removal.expiredAt): \(removal.problem ?? "deleted")\n"
                )
                results.append(removal.result)
            }
            let groups = CgroupOrphanSweep.expired(now: now, liveRuns: liveRuns)
            guard !groups.isEmpty else { return }
            Set(groups.map(\.runID)).forEach { InFlightTools.settle(runID: $0) }
            var executor = RollbackExecutor(
                catalog: Wiring.catalog, actor: HostSweep.actor, logger: Wiring.logger(verbose: verbose))
            executor.budget = rollbackTimeout.duration
            for result in executor.executeWithoutJournal(groups, runDirectory: URL(fileURLWithPath: "/")) {
                let outcome =
                    result.succeeded
                    ? "reverted, verified" : "\(result.record.state.rawValue): \(result.record.message ?? "")"
                Output.standardOutput("cgroup \(result.record.target), expired \(result.record.deadline): \(outcome)\n")
                results.append(result)
            }
        }

        private func sweepKubernetes(now: Date, into results: inout [RollbackResult], problems: inout [String]) throws {
            var sweep = KubernetesSweep(
                kubeconfig: kubeconfig, context: context,
                namespaces: allNamespaces ? .all : namespace.map { .named($0) } ?? .context,
                logger: Wiring.logger(verbose: verbose))
            sweep.dryRun = dryRun
            let report: KubernetesSweepReport
            do {
                report = try sweep.run(now: now)
            } catch {
                Wiring.printError("error: \(error)")
                throw ExitCode(.invalidInput)
            }
            Output.standardOutput(report.text + "\n")
            results += report.results
            problems += report.problems
        }
    }
}
