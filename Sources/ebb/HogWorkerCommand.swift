import ArgumentParser
import EbbFaults
import Foundation

/// The worker of `hog.*` faults; hidden, started by ebb itself.
struct HogWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hog-worker", shouldDisplay: false)

    @Option var kind: HogWorker.Kind
    @Option var threads = 1
    @Option var bytes: UInt64 = 0
    @Option var directory: String?
    @Option var filePrefix: String
    @Option(help: "Unix time at which the worker ends itself.") var until: Double

    func run() {
        HogWorker.run(
            kind, threads: threads, bytes: bytes, directory: directory, filePrefix: filePrefix,
            until: Date(timeIntervalSince1970: until))
    }
}

extension HogWorker.Kind: ExpressibleByArgument {}
