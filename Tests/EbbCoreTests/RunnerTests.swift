import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

/// Wraps a real fault and, at the moment it injects, reads the journal from disk: the undo
/// record must already be there in state `armed` (ARCHITECTURE.md invariant 1, arm before act).
struct ArmCheckingFault: Fault {
    let inner: any Fault
    let name: String
    let observations: Observations

    func plan(_ context: FaultContext) throws -> FaultPlan { try inner.plan(context) }
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws { try inner.prepare(plan, context) }
    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let run = JournalReader(holding: context.runDirectory).run(at: context.runDirectory)
        let record = run.records.first { $0.fault == name && $0.scenario == context.scenario }
        observations.add(name, armed: record?.state == .armed && record?.kind == plan.undoKind)
        try inner.inject(plan, context)
    }
}

final class Observations: @unchecked Sendable {
    private let lock = NSLock()
    private var armed: [String: Bool] = [:]
    func add(_ name: String, armed value: Bool) { lock.withLock { armed[name] = value } }
    var all: [String: Bool] { lock.withLock { armed } }
}

@Suite(.serialized, .ownThread) struct RunnerTests {
    @Test func everyPluginIsArmedBeforeItActsAndEveryTargetEndsAsItWas() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let files = scratch.url.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let originals = ["a.txt": "alpha\n", "b.txt": "bravo bravo\n", "c.txt": "charlie\n", "d.txt": "delta\n"]
        for (name, text) in originals {
            try text.write(to: files.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let suitePath = scratch.url.appendingPathComponent("suite.yaml").path
        try """
        suite: every-plugin
        allowed_roots: [files]
        setup:
          - name: sleeper
            command: [sleep, "120"]
          - name: victim
            command: [sleep, "120"]
        scenarios:
          - name: all
            duration: 100ms
            faults:
              - process.pause: { fixture: sleeper }
              - file.corrupt: { path: files/a.txt }
              - file.truncate: { path: files/b.txt, size: 3 }
              - file.remove: { path: files/c.txt }
              - file.replace: { path: files/d.txt, content: broken }
              - disk.fill: { path: files, size: 1M }
              - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag] }
              - process.kill: { fixture: victim }
        """.write(toFile: suitePath, atomically: true, encoding: .utf8)

        var suite = try SuiteLoader(catalog: .standard).load(path: suitePath)
        let observations = Observations()
        suite.scenarios[0].faults = suite.scenarios[0].faults.map { spec in
            var wrapped = spec
            wrapped.fault = ArmCheckingFault(inner: spec.fault, name: spec.name, observations: observations)
            return wrapped
        }
        let runner = Runner(
            suites: [suite], catalog: .standard,
            options: .init(
                stateDirectory: scratch.url.appendingPathComponent("state"),
                reportDirectory: scratch.url.appendingPathComponent("reports")),
            logger: testLogger)
        let result = await runner.run(journal: try runner.openJournal())

        #expect(observations.all.count == 8)
        #expect(
            observations.all.values.allSatisfy { $0 },
            "not armed before inject: \(observations.all.filter { !$0.value }.keys.sorted())")
        let steps = result.scenarios.flatMap(\.steps)
        #expect(steps.filter { $0.kind == .inject }.allSatisfy { $0.status == .passed })
        #expect(
            steps.filter { $0.kind == .rollback }.map(\.name) == [
                "rollback: process.kill", "rollback: command", "rollback: disk.fill", "rollback: file.replace",
                "rollback: file.remove", "rollback: file.truncate", "rollback: file.corrupt", "rollback: process.pause",
            ], "newest first")
        #expect(result.exitStatus == .passed)
        for (name, text) in originals {
            #expect(try String(contentsOf: files.appendingPathComponent(name), encoding: .utf8) == text)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: files.path).sorted()
        #expect(left == originals.keys.sorted(), "no fill file, no flag, no restore temp files")
        let records = try JournalReader(stateDirectory: scratch.url.appendingPathComponent("state")).runs().flatMap(
            \.records)
        #expect(records.filter { $0.state == .irreversible }.map(\.fault) == ["process.kill"])
        #expect(records.allSatisfy { !$0.state.isPending })
    }

    @Test func aTargetThatCannotBeResolvedIsNotInjectedAndTheRunIsInconclusive() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let suitePath = scratch.url.appendingPathComponent("suite.yaml").path
        try """
        scenarios:
          - name: missing
            duration: 10ms
            faults:
              - command: { inject: [touch, injected], rollback: [rm, -f, injected] }
              - process.pause: { pidfile: nowhere.pid }
        """.write(toFile: suitePath, atomically: true, encoding: .utf8)
        let suite = try SuiteLoader(catalog: .standard).load(path: suitePath)
        let runner = Runner(
            suites: [suite], catalog: .standard,
            options: .init(stateDirectory: scratch.url.appendingPathComponent("state"), reportDirectory: scratch.url),
            logger: testLogger)
        let result = await runner.run(journal: try runner.openJournal())
        #expect(result.exitStatus == .inconclusive)
        #expect(result.scenarios.first?.steps.first?.message?.contains("cannot read pidfile") == true)
        #expect(
            !FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("injected").path),
            "no fault of the scenario was injected")
    }
}
