import ArgumentParser
import EbbBench
import EbbCore
import Foundation

/// Measurements for ci/bench; hidden, as they are tools for the benchmark, not for users.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", shouldDisplay: false, subcommands: [Journal.self])

    struct Journal: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "journal",
            abstract: "Arm N undo records against the disk's fsync floor; print JSON.")

        @Option var records = 1000
        @Option var rounds = 5
        @Option(help: "A scratch folder on the disk to measure (removed afterwards).") var directory: String

        func run() throws {
            let folder = URL(fileURLWithPath: directory).appending(path: "ebb-journal-bench-\(getpid())")
            defer { try? FileManager.default.removeItem(at: folder) }
            let result = try JournalBench.measure(records: records, rounds: rounds, in: folder)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
    }
}
