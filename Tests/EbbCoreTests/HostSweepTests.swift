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
        let (_, registry, copy) = try abandonedRun(in: scratch, log: "/dev/null")
        // The workspace is gone too.
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("state"))
        try FileManager.default.removeItem(at: copy.appendingPathComponent("lock"))
        try FileManager.default.createDirectory(
            at: copy.appendingPathComponent("lock"), withIntermediateDirectories: false)

        let outcomes = try HostSweep(registry: registry, catalog: .testing, logger: testLogger).sweep()
        let outcome = try #require(outcomes.first)
        #expect(outcome.skipped == nil, "not passed by: \(outcome.skipped ?? "")")
        #expect(outcome.isLive, "its marked targets are left alone")
        #expect(outcome.report.damaged.map(\.problem).first?.contains("cannot take the run's lock") == true)
        #expect(!outcome.report.isComplete)
    }

    /// A recovery (a guardian, `rollback execute`) at work through the journal when the
    /// workspace is deleted still holds the run's lock: the sweep, which can then only go
    /// through the registry copy, finds the same lock held and leaves the run alone instead of
    /// reverting its records beside the recovery. Once the lock is free, it sweeps.
    @Test func aRecoveryAtWorkThroughTheRemovedJournalKeepsTheSweepAway() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("undo.log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let (journal, registry, copy) = try abandonedRun(in: scratch, log: log)
        for name in [RunLock.fileName, RecordStore.locksFile] {
            #expect(
                DurableFile.isSameFile(
                    journal.directory.appendingPathComponent(name).path, copy.appendingPathComponent(name).path),
                "the copy's \(name) is the journal's")
        }
        let recovery = try #require(try RunLock.acquire(journal.directory))
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("state"))

        let sweep = HostSweep(registry: registry, catalog: .testing, logger: testLogger)
        let whileHeld = try #require(try sweep.sweep().first)
        #expect(whileHeld.isLive)
        #expect(whileHeld.skipped?.contains("holds the lock") == true, "skipped: \(whileHeld.skipped ?? "nil")")
        #expect(LoggingUndo.lines(log).isEmpty, "no undo ran beside the recovery")

        recovery.release()
        let afterwards = try #require(try sweep.sweep().first)
        #expect(afterwards.skipped == nil)
        #expect(afterwards.report.results.map(\.succeeded) == [true])
        #expect(LoggingUndo.lines(log) == ["undone"])
    }

    /// A run in `scratch` (journal under `state/`, copy in `registry/`) with one armed record,
    /// labelled "undone", past its deadline, closed unsettled, whose copy says its runner is
    /// gone (a start time no process has).
    private func abandonedRun(
        in scratch: ScratchDirectory, log: String
    ) throws -> (journal: RunJournal, registry: HostRegistry, copy: URL) {
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        _ = try armLoggingRecord(in: journal, label: "undone", log: log)
        try journal.close()
        let copy = registry.copy(of: journal.directory)
        var info = journal.info
        info.pidStartTime = 1
        try info.write(into: copy)
        return (journal, registry, copy)
    }
}
