import EbbCore
import EbbReports
import Foundation
import Testing

@Suite struct ConsoleReporterTests {
    func record(_ fault: String, _ state: RecordState, message: String? = nil) -> UndoRecord {
        var record = UndoRecord(
            runID: "r1", sequence: 1, scenario: "s", fault: fault, plugin: "file.truncate", target: "/srv/\(fault)",
            kind: "file.restore", data: .null, state: state, armedAt: Date(), deadline: Date())
        record.message = message
        return record
    }

    @Test func theSummaryCountsOutcomesAndNamesEveryFaultLeftBehind() {
        var scenario = ScenarioResult(suite: "demo", name: "s", startedAt: Date())
        scenario.rollbacks = [
            RollbackResult(record: record("a", .reverted), duration: .zero),
            RollbackResult(record: record("b", .revertFailed, message: "Operation not permitted"), duration: .zero),
            RollbackResult(record: record("c", .irreversible), duration: .zero),
        ]
        scenario.steps = [StepResult(kind: .rollback, name: "rollback: b", status: .failed)]
        var result = RunResult(
            runID: "r1", journalDirectory: URL(fileURLWithPath: "/state/rollback/1-r1"), startedAt: Date())
        result.scenarios = [scenario]
        let text = ConsoleReporter().summary(result)
        #expect(text.contains("Faults:    1 reverted, 1 failed to revert, 1 irreversible"))
        #expect(text.contains("NOT REVERTED: s / b on /srv/b: Operation not permitted"))
        #expect(
            text.hasSuffix(
                "Exit 2: rollback incomplete: some fault could not be verified reverted (system may be dirty)"))
    }

    @Test func aSecondSignalDuringRollbackIsAnnouncedAsNotInterruptingIt() {
        let lines = Lines()
        let reporter = ConsoleReporter(quiet: true) { lines.append($0) }
        reporter.handle(.signal(15, duringRollback: false))
        reporter.handle(.signal(2, duringRollback: true))
        reporter.handle(.holding(scenario: "s", duration: .seconds(1)))
        #expect(
            lines.all == [
                "! SIGTERM received: stopping, rolling everything back",
                "! SIGINT received: rollback is in progress and will finish first",
            ])
    }
}

@Suite struct JournalListingTests {
    @Test func jsonListsRecordsWithISODatesAndDamagedFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-listing-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let journal = try RunJournal.create(stateDirectory: directory, suites: ["s.yaml"])
        try RecordStore(runDirectory: journal.directory).create(
            UndoRecord(
                runID: journal.runID, sequence: 1, scenario: "s", fault: "f", plugin: "command", target: "t",
                kind: "command.rollback", data: .object(["x": .number(1)]), state: .injected,
                armedAt: Date(timeIntervalSince1970: 1_800_000_000),
                deadline: Date(timeIntervalSince1970: 1_800_000_060)))
        try Data("{".utf8).write(to: journal.directory.appendingPathComponent("0002-s-g.json"))
        try journal.close()
        // A child another test spawns holds a copy of the lock's descriptor until its exec; wait that out.
        let clock = ContinuousClock()
        let end = clock.now + .seconds(2)
        while clock.now < end, try JournalReader(stateDirectory: directory).runs().first?.isLive == true {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let text = try JournalListing.json(try JournalReader(stateDirectory: directory).runs())
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        let records = try #require(runs.first?["records"] as? [[String: Any]])
        #expect(records.first?["armedAt"] as? String == "2027-01-15T08:00:00.000Z")
        #expect(records.first?["state"] as? String == "injected")
        let damaged = try #require(runs.first?["damaged"] as? [[String: Any]])
        #expect((damaged.first?["path"] as? String)?.hasSuffix("0002-s-g.json") == true)
        #expect(runs.first?["live"] as? Bool == false)
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite struct EmbeddedSchemaTests {
    static let vendored = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/junit-schemas").standardized

    /// `ebb report validate` must check against exactly what CI consumers enforce.
    @Test(arguments: [("junit-10.xsd", EmbeddedSchemas.portable), ("JUnit.xsd", EmbeddedSchemas.ant)])
    func embeddedSchemasMatchTheVendoredCopies(file: String, embedded: String) throws {
        let text = try String(contentsOf: Self.vendored.appendingPathComponent(file), encoding: .utf8)
        #expect(
            text.trimmingCharacters(in: .newlines) == embedded.trimmingCharacters(in: .newlines),
            "run ci/embed-schemas.sh after a schema changes")
    }
}

/// The summary of `ebb rollback sweep`, which has results but no journal.
@Suite struct SweepSummaryTests {
    @Test func aSweepSummaryCountsItsResultsAndFailsOnAnyProblem() throws {
        func result(_ state: RecordState) -> RollbackResult {
            var record = UndoRecord(
                runID: "0badc0de", sequence: 2, scenario: "s", fault: "k8s.scale", plugin: "k8s.scale",
                target: "deployment shop/web", kind: "k8s.scale-restore", data: .null, state: state,
                armedAt: Date(), deadline: Date())
            record.finishedAt = Date()
            return RollbackResult(record: record, duration: .milliseconds(1500))
        }
        let clean = RollbackSummary(
            sweep: "sweep-x", results: [result(.reverted)], problems: [], actor: "rollback sweep")
        #expect(clean.exitCode == 0 && clean.totals.reverted == 1 && clean.faults.first?.timeToRecoverSeconds == 1.5)
        #expect(clean.markdown().contains("all faults taken back"))
        let failed = RollbackSummary(
            sweep: "sweep-x", results: [result(.reverted), result(.revertFailed)], problems: [], actor: "rollback sweep"
        )
        #expect(failed.exitCode == 2 && failed.totals.revertFailed == 1)
        let unlisted = RollbackSummary(
            sweep: "sweep-x", results: [], problems: ["cannot list nodes: HTTP 403"], actor: "rollback sweep")
        #expect(unlisted.exitCode == 2 && unlisted.totals.damaged == 1)
        #expect(RollbackSummary.sweepName(at: Date(timeIntervalSince1970: 0.25)) == "sweep-19700101T000000.250Z")
    }
}
