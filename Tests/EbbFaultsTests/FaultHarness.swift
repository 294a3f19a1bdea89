import EbbCore
import EbbFaults
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Drives one fault the way the runner does (plan, prepare, inject) and its undo the way
/// `ebb rollback execute` does (from the record's kind and data alone).
struct FaultHarness {
    let directory: URL
    let runDirectory: URL
    let catalog = PluginCatalog.standard
    let logger = Logger(label: "ebb.faults-test")

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-faults-\(UUID().uuidString.prefix(8))")
        runDirectory = directory.appendingPathComponent("state/rollback/1-testrun")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    var suite: SuiteContext {
        SuiteContext(
            directory: directory, allowedRoots: [directory.appendingPathComponent("files").path], fixtureNames: [])
    }

    func context(sequence: Int = 1) -> FaultContext {
        FaultContext(
            runID: "testrun", runDirectory: runDirectory, sequence: sequence, scenario: "s", suite: suite,
            fixturePIDs: [:], logger: logger, services: services)
    }

    /// What the harness's faults and undos keep alive and find (nothing, for these plugins).
    let services = LiveServices()

    /// The context an undo gets from the runner of this harness's faults.
    var undoContext: UndoContext {
        UndoContext(runID: "testrun", runDirectory: runDirectory, logger: logger, services: services)
    }

    /// Loads `plugin: parameters` through the real suite loader and returns the configured fault.
    func fault(_ yaml: String) throws -> any Fault {
        let text = "allowed_roots: [files]\nscenarios:\n  - name: s\n    duration: 1s\n    faults:\n      - \(yaml)\n"
        let path = directory.appendingPathComponent("suite.yaml").path
        return try SuiteLoader(catalog: catalog).load(text: text, path: path).scenarios[0].faults[0].fault
    }

    @discardableResult
    func inject(_ fault: any Fault, sequence: Int = 1) throws -> FaultPlan {
        let context = context(sequence: sequence)
        let plan = try fault.plan(context)
        try fault.prepare(plan, context)
        try fault.inject(plan, context)
        return plan
    }

    func undo(_ plan: FaultPlan) throws -> UndoOutcome {
        let handler = try require(catalog.undoHandlers[plan.undoKind])
        return try handler.undoThenVerify(plan.undoData, undoContext)
    }

    func verify(_ plan: FaultPlan) throws {
        try require(catalog.undoHandlers[plan.undoKind]).verify(
            plan.undoData, undoContext)
    }

    func file(_ name: String, _ content: String) throws -> String {
        let files = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let path = files.appendingPathComponent(name).path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

struct Missing: Error {}

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}

/// A `sleep` child in its own process group, ended by pid when the test is done.
struct Sleeper {
    let pid: Int32
    init(_ seconds: String = "120") throws {
        pid = try ChildProcess.spawn(["sleep", seconds])
    }
    var state: Character? { ProcessTable.snapshot(pid)?.state }
    func end() {
        kill(pid, SIGKILL)
        _ = ChildProcess.wait(pid, timeout: .seconds(5))
    }
}

/// Waits until `condition` holds, re-checking every 10 ms, for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}
