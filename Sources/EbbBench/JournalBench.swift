import EbbCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Measures what arming costs: N undo records armed through ``RollbackScope`` (the runner's
/// own path), against this disk's floor, a bare loop of write + fsync + rename + directory
/// fsync of the same bytes. For `ci/bench`; it asserts nothing.
public enum JournalBench {
    public struct Result: Codable, Sendable {
        public var records: Int
        public var armMicrosecondsPerRecord: Double
        public var floorMicrosecondsPerWrite: Double
        /// Arming cost over the floor; 1.0 would mean no overhead beyond the disk's.
        public var ratio: Double
    }

    public static func measure(records: Int, rounds: Int, in directory: URL) throws -> Result {
        var arm: [Double] = []
        var floor: [Double] = []
        for round in 0..<rounds {
            // Alternate the order so that neither side always meets a warmer cache.
            if round % 2 == 0 {
                floor.append(try floorLoop(records: records, in: directory.appending(path: "floor-\(round)")))
                arm.append(try armLoop(records: records, in: directory.appending(path: "arm-\(round)")))
            } else {
                arm.append(try armLoop(records: records, in: directory.appending(path: "arm-\(round)")))
                floor.append(try floorLoop(records: records, in: directory.appending(path: "floor-\(round)")))
            }
        }
        let armPer = median(arm) / Double(records) * 1e6
        let floorPer = median(floor) / Double(records) * 1e6
        return Result(
            records: records, armMicrosecondsPerRecord: armPer, floorMicrosecondsPerWrite: floorPer,
            ratio: armPer / floorPer)
    }

    struct BenchUndo: Encodable {
        var pid: Int32
        var startTime: UInt64
    }

    /// Seconds to arm `records` records into a fresh journal.
    static func armLoop(records: Int, in directory: URL) throws -> Double {
        let journal = try RunJournal.create(stateDirectory: directory, suites: ["bench.yaml"])
        let scope = RollbackScope(
            journal: journal, scenario: "bench",
            executor: RollbackExecutor(catalog: PluginCatalog(), actor: "bench", logger: Logger(label: "ebb.bench")))
        let plan = try FaultPlan(
            target: "pid 4242 (bench)", undoKind: "process.resume", undoData: BenchUndo(pid: 4242, startTime: 123_456),
            undoSummary: "SIGCONT pid 4242")
        let deadline = Date().addingTimeInterval(3600)
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<records {
            _ = try scope.arm(
                fault: "fault-\(index)", plugin: "process.pause", plan: plan, sequence: journal.reserveSequence(),
                deadline: deadline)
        }
        let seconds = (clock.now - start).seconds
        try journal.close()
        return seconds
    }

    /// Seconds for the bare durable-write loop, with a record-sized payload.
    static func floorLoop(records: Int, in directory: URL) throws -> Double {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 700)
        let directoryFD = open(directory.path, O_RDONLY | O_DIRECTORY)
        guard directoryFD >= 0 else { throw systemError("cannot open", directory.path) }
        defer { close(directoryFD) }
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<records {
            let temporary = directory.appending(path: ".tmp-\(index)").path
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0, write(fd, payload, payload.count) == payload.count, fsync(fd) == 0 else {
                throw systemError("floor write failed")
            }
            close(fd)
            guard rename(temporary, directory.appending(path: "\(index).json").path) == 0,
                fsync(directoryFD) == 0
            else {
                throw systemError("floor rename failed")
            }
        }
        return (clock.now - start).seconds
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
