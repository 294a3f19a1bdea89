import ArgumentParser
import EbbCore
import EbbFaults
import EbbReports
import Foundation

extension RollbackCommand {
    struct SweepCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sweep",
            abstract: "Revert expired faults from the marks on their targets, with no journal.",
            discussion: """
            For when the runner, its guardian and the journal are all gone. With --kubernetes, finds \
            the objects labelled ebb.dev/run whose ebb.dev/expires-at has passed and reverts them \
            from their ebb.dev/undo annotation, verified; objects not expired yet, or not provably \
            Ebb's, are listed and left alone. Safe to run from many places at once and repeatedly. \
            Writes rollback-summary-sweep-<time>.json/.md. Exit 0 when everything expired was \
            verified reverted, 2 when anything was not.
            """
        )

        @Flag(help: "Sweep Kubernetes objects.") var kubernetes = false
        @Option(help: ArgumentHelp("kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account).", valueName: "path"))
        var kubeconfig: String?
        @Option(help: ArgumentHelp("kubeconfig context (default: its current-context).", valueName: "name")) var context: String?
        @Option(help: ArgumentHelp("Sweep this namespace (default: the context's). Nodes are always swept.", valueName: "name"))
        var namespace: String?
        @Flag(help: "Sweep every namespace.") var allNamespaces = false
        @Flag(help: "Only list what would be reverted.") var dryRun = false
        @Flag(help: "Log undo retries to stderr.") var verbose = false
        @Option(help: ArgumentHelp("Folder for rollback-summary-sweep-<time>.json/.md.", valueName: "dir")) var reportDir = "reports"

        func validate() throws {
            if namespace != nil && allNamespaces { throw ValidationError("give --namespace or --all-namespaces, not both") }
        }

        func run() throws {
            guard kubernetes else {
                // The host sweep joins here (one call site) when it is built.
                Wiring.printError("error: host sweep: not built in this branch; pass --kubernetes")
                throw ExitCode(.invalidInput)
            }
            try Wiring.withoutInterruption(sweepKubernetes)
        }

        private func sweepKubernetes() throws {
            var sweep = KubernetesSweep(kubeconfig: kubeconfig, context: context,
                                        namespaces: allNamespaces ? .all : namespace.map { .named($0) } ?? .context,
                                        logger: Wiring.logger(verbose: verbose))
            sweep.dryRun = dryRun
            let started = Date()
            let report: KubernetesSweepReport
            do {
                report = try sweep.run(now: started)
            } catch {
                Wiring.printError("error: \(error)")
                throw ExitCode(.invalidInput)
            }
            print(report.text)
            if !dryRun {
                let name = RollbackSummary.sweepName(at: started)
                let summary = RollbackSummary(sweep: name, results: report.results, problems: report.problems, actor: sweep.actor)
                Wiring.writeReports {
                    try SummaryFiles.write(summary, to: URL(fileURLWithPath: reportDir).standardizedFileURL, baseName: "rollback-summary-\(name)")
                }
            }
            if !report.isComplete { throw ExitCode(.rollbackIncomplete) }
        }
    }
}
