import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// `ebb rollback sweep` over the host registry, as a library.
@Suite(.ownThread) struct HostSweepTests {
    /// A run whose lock cannot even be tried (an I/O error, not another holder) is not known
    /// to be live or dead: the sweep reports it, so it fails, instead of passing it by as live.
    @Test func aRunWhoseLockCannotBeTriedIsReportedNotPassedByAsLive() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        _ = try armLoggingRecord(in: journal, label: "a", log: "/dev/null")
        try journal.close()
        // The workspace is gone and so is its runner (a start time no process has).
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("state"))
        let copy = registry.copy(of: journal.directory)
        var info = journal.info
        info.pidStartTime = 1
        try info.write(into: copy)
        try FileManager.default.createDirectory(
            at: copy.appendingPathComponent("lock"), withIntermediateDirectories: false)

        let outcomes = try HostSweep(registry: registry, catalog: .testing, logger: testLogger).sweep()
        let outcome = try #require(outcomes.first)
        #expect(outcome.skipped == nil, "not passed by: \(outcome.skipped ?? "")")
        #expect(outcome.isLive, "its marked targets are left alone")
        #expect(outcome.report.damaged.map(\.problem).first?.contains("cannot take the run's lock") == true)
        #expect(!outcome.report.isComplete)
    }
}
