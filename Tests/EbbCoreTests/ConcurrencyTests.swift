import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

/// Counts the injections in flight and holds each until `together` of them are (or every
/// fault has started): if the runner injected more at once than `--forks` allows, `most`
/// shows it, and when it may inject that many, they do overlap. Also keeps what each
/// injection saw of the journal on disk as it began.
final class InjectionGate: @unchecked Sendable {
    private let condition = NSCondition()
    private let together: Int
    private let total: Int
    private var inFlight = 0
    private var started = 0
    private(set) var most = 0
    private(set) var seen: [(journal: Int, registry: Int, temporaries: Int)] = []

    init(together: Int, total: Int) {
        self.together = together
        self.total = total
    }

    func enter(journal: Int, registry: Int, temporaries: Int) {
        condition.lock()
        defer { condition.unlock() }
        inFlight += 1
        started += 1
        most = max(most, inFlight)
        seen.append((journal, registry, temporaries))
        condition.broadcast()
        // A barrier with a timeout, not a sleep: it ends as soon as the others have arrived.
        let end = Date().addingTimeInterval(10)
        while inFlight < together && started < total && condition.wait(until: end) {}
    }

    func leave() {
        condition.lock()
        inFlight -= 1
        condition.unlock()
    }

    var snapshot: (most: Int, seen: [(journal: Int, registry: Int, temporaries: Int)]) {
        condition.lock()
        defer { condition.unlock() }
        return (most, seen)
    }
}

/// A real fault that, as it injects, reads the run directory and its registry copy from disk
/// and passes through the gate.
struct GatedFault: Fault {
    let inner: any Fault
    let gate: InjectionGate

    func plan(_ context: FaultContext) throws -> FaultPlan { try inner.plan(context) }
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws { try inner.prepare(plan, context) }
    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let run = JournalReader(holding: context.runDirectory).run(at: context.runDirectory)
        let armed = run.records.filter { $0.scenario == context.scenario && $0.state.isPending }.count
        let copied =
            (try? FileManager.default.contentsOfDirectory(atPath: run.info?.registry ?? "/nonexistent"))?
            .filter { $0.hasSuffix(".json") && $0 != "run.json" && !$0.hasPrefix(".") }.count ?? 0
        let temporaries =
            (try? FileManager.default.contentsOfDirectory(atPath: context.runDirectory.path))?
            .filter { $0.hasPrefix(".tmp-") }.count ?? -1
        gate.enter(journal: armed, registry: copied, temporaries: temporaries)
        defer { gate.leave() }
        try inner.inject(plan, context)
    }
}

@Suite(.serialized, .ownThread) struct ConcurrentArmingTests {
    /// Loads `faults` (a plugin and its parameters each, YAML), named `f0`, `f1`, ..., and wraps each in the gate.
    func run(
        _ faults: [String], forks: Int, gate: InjectionGate, in scratch: ScratchDirectory
    ) async throws -> RunResult {
        let suitePath = scratch.url.appendingPathComponent("suite.yaml").path
        try
            (["scenarios:", "  - name: many", "    duration: 10ms", "    faults:"]
            + faults.enumerated().map { "      - { name: f\($0), \($1) }" })
            .joined(separator: "\n").write(toFile: suitePath, atomically: true, encoding: .utf8)
        var suite = try SuiteLoader(catalog: .standard).load(path: suitePath)
        suite.scenarios[0].faults = suite.scenarios[0].faults.map { spec in
            var wrapped = spec
            wrapped.fault = GatedFault(inner: spec.fault, gate: gate)
            return wrapped
        }
        let runner = Runner(
            suites: [suite], catalog: .standard,
            options: .init(
                stateDirectory: scratch.url.appendingPathComponent("state"), reportDirectory: scratch.url,
                registry: HostRegistry(directory: scratch.url.appendingPathComponent("registry")), forks: forks),
            logger: testLogger)
        return await runner.run(journal: try runner.openJournal())
    }

    func markers(_ scratch: ScratchDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasPrefix("marker-") }
    }

    @Test func everyRecordIsDurableBeforeTheFirstInjectionAndTheForksBoundHolds() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let faults = (0..<9).map {
            "command: { inject: [touch, \(scratch.path)/marker-\($0)], rollback: [rm, -f, \(scratch.path)/marker-\($0)] }"
        }
        let gate = InjectionGate(together: 3, total: faults.count)
        let result = try await run(faults, forks: 3, gate: gate, in: scratch)

        let (most, seen) = gate.snapshot
        #expect(seen.count == 9)
        #expect(
            seen.allSatisfy { $0.journal == 9 },
            "every record of the scenario is in the journal before any fault acts: \(seen)")
        #expect(seen.allSatisfy { $0.registry == 9 }, "and in the registry copy: \(seen)")
        #expect(
            seen.allSatisfy { $0.temporaries == 0 },
            "the batch was complete (renamed into place) before any fault acted")
        #expect(most == 3, "at most --forks injections at once, and that many when there is work for them")
        let steps = result.scenarios[0].steps
        #expect(steps.filter { $0.kind == .inject }.allSatisfy { $0.status == .passed })
        #expect(
            steps.filter { $0.kind == .inject }.map { $0.properties["target"] }
                == (0..<9).map { "touch \(scratch.path)/marker-\($0)" },
            "reports keep the faults' order")
        #expect(result.exitStatus == .passed)
        #expect(try markers(scratch).isEmpty)
        let records = try JournalReader(stateDirectory: scratch.url.appendingPathComponent("state")).runs().flatMap(
            \.records)
        #expect(records.count == 9 && records.allSatisfy { $0.state == .reverted })
    }

    @Test func oneFailedInjectionAmongConcurrentOnesStillRollsBackEveryArmedFault() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var faults = (0..<5).map {
            "command: { inject: [touch, \(scratch.path)/marker-\($0)], rollback: [rm, -f, \(scratch.path)/marker-\($0)] }"
        }
        // Half-injected, then fails: the undo still has something to take back.
        faults.insert(
            "command: { inject: [sh, -c, 'touch \(scratch.path)/marker-bad; exit 1'], rollback: [rm, -f, \(scratch.path)/marker-bad] }",
            at: 2)
        // All six in flight at once, so the failure cannot stop the others from starting.
        let gate = InjectionGate(together: 6, total: faults.count)
        let result = try await run(faults, forks: 10, gate: gate, in: scratch)

        #expect(gate.snapshot.most == 6)
        let injections = result.scenarios[0].steps.filter { $0.kind == .inject }
        #expect(injections.map(\.status) == [.passed, .passed, .error, .passed, .passed, .passed])
        #expect(result.exitStatus == .checksFailed)
        #expect(try markers(scratch).isEmpty, "every fault, the failed one too, was rolled back")
        let records = try JournalReader(stateDirectory: scratch.url.appendingPathComponent("state")).runs().flatMap(
            \.records)
        #expect(records.count == 6 && records.allSatisfy { $0.state == .reverted })
    }

    @Test func faultsNotStartedAfterAFailureAreArmedSkippedAndRolledBack() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let faults =
            ["command: { inject: [sh, -c, 'exit 1'], rollback: [rm, -f, \(scratch.path)/marker-bad] }"]
            + (0..<2).map {
                "command: { inject: [touch, \(scratch.path)/marker-\($0)], rollback: [rm, -f, \(scratch.path)/marker-\($0)] }"
            }
        let gate = InjectionGate(together: 1, total: faults.count)
        let result = try await run(faults, forks: 1, gate: gate, in: scratch)

        #expect(gate.snapshot.seen.count == 1, "after the failure no other fault acted")
        let injections = result.scenarios[0].steps.filter { $0.kind == .inject }
        #expect(injections.map(\.status) == [.error, .skipped, .skipped])
        #expect(injections[1].message?.contains("another fault of the scenario failed to inject") == true)
        #expect(try markers(scratch).isEmpty)
        let records = try JournalReader(stateDirectory: scratch.url.appendingPathComponent("state")).runs().flatMap(
            \.records)
        #expect(
            records.count == 3 && records.allSatisfy { $0.state == .reverted },
            "armed records are rolled back with the rest")
    }

    @Test func aFaultThatCannotBePreparedLeavesTheWholeScenarioUnarmed() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        defer { try? journal.close() }
        let scope = RollbackScope(
            journal: journal, scenario: "s",
            executor: RollbackExecutor(catalog: .testing, actor: "runner", logger: testLogger))
        let acted = Captured<Bool>()
        let armings = try (1...3).map { sequence in
            Arming(
                fault: "f\(sequence)", plugin: "test",
                plan: try FaultPlan(
                    target: "t\(sequence)", undoKind: LoggingUndo.kind,
                    undoData: LoggingUndo.Payload(label: "f\(sequence)", log: "/dev/null"), undoSummary: ""),
                sequence: sequence,
                prepare: { if sequence == 2 { throw FaultError(description: "no backup") } },
                act: {
                    acted.value = true; return nil
                })
        }
        let outcomes = scope.armThenAct(armings, lifetime: .seconds(10), forks: 3)
        let stages = outcomes.map { outcome -> InjectionFailure.Stage? in
            if case .failure(let failure) = outcome { failure.stage } else { nil }
        }
        #expect(stages == [.notStarted, .prepare, .notStarted])
        #expect(acted.value == nil, "nothing acted")
        #expect(
            JournalReader(holding: journal.directory).run(at: journal.directory).records.isEmpty, "nothing was armed")
    }
}

@Suite(.ownThread) struct ConcurrentRollbackTests {
    func record(
        _ sequence: Int, scenario: String = "s", target: String, label: String, log: String, hangWhile: String? = nil,
        lockKeys: [String]? = nil
    ) throws -> UndoRecord {
        var record = UndoRecord(
            runID: "test", sequence: sequence, scenario: scenario, fault: label, plugin: "test", target: target,
            kind: LoggingUndo.kind,
            data: try JSONValue(encoding: LoggingUndo.Payload(label: label, log: log, hangWhile: hangWhile)),
            state: .injected, armedAt: Date(), deadline: Date())
        record.lockKeys = lockKeys
        return record
    }

    @Test func recordsOfOneTargetOrLockGoNewestFirstAndSetupGoesLastInOrder() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let store = RecordStore(runDirectory: scratch.url)
        let records = [
            try record(1, scenario: "setup", target: "proxy", label: "proxy", log: log),
            try record(2, scenario: "setup", target: "fixture", label: "fixture", log: log),
            try record(3, target: "a", label: "a1", log: log),
            try record(4, target: "b", label: "b1", log: log, lockKeys: ["inode-7"]),
            try record(5, target: "a", label: "a2", log: log),
            try record(6, target: "c", label: "c1", log: log),
            try record(7, target: "b-by-another-name", label: "b2", log: log, lockKeys: ["inode-7"]),
            try record(8, target: "a", label: "a3", log: log),
        ]
        try records.forEach(store.create)
        let executor = RollbackExecutor(catalog: .testing, actor: "test", forks: 4, logger: testLogger)
        let results = executor.execute(records.shuffled(), store: store)

        #expect(results.map(\.record.sequence) == [8, 7, 6, 5, 4, 3, 2, 1], "results come newest first")
        #expect(results.allSatisfy { $0.record.state == .reverted })
        let order = LoggingUndo.lines(log)
        #expect(order.filter { $0.hasPrefix("a") } == ["a3", "a2", "a1"], "one target: newest first")
        #expect(order.filter { $0.hasPrefix("b") } == ["b2", "b1"], "one lock key: newest first")
        #expect(order.suffix(2) == ["fixture", "proxy"], "setup after the scenario's faults, strictly newest first")
    }

    @Test func unrelatedUndosRunAtOnceSoAStuckOneDoesNotHoldTheOthers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        let hang = scratch.url.appendingPathComponent("hang").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        _ = FileManager.default.createFile(atPath: hang, contents: nil)
        defer { unlink(hang) }
        let store = RecordStore(runDirectory: scratch.url)
        let records = [
            try record(1, target: "o", label: "older", log: log),
            try record(2, target: "s", label: "stuck", log: log, hangWhile: hang),
        ]
        try records.forEach(store.create)
        let executor = RollbackExecutor(
            catalog: .testing, actor: "runner", budget: .seconds(2), forks: 2, logger: testLogger)
        let results = executor.execute(records, store: store)
        #expect(results.map(\.record.fault) == ["stuck", "older"])
        #expect(results.map(\.record.state) == [.revertFailed, .reverted], "the older undo ran beside the stuck one")
    }
}
