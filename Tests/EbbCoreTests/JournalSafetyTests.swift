import EbbCore
import EbbTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One state machine and one writer per record: no interleaving of runner, guardian and
/// recovery can make a live fault read `reverted`.
@Suite(.ownThread) struct RecordStateMachineTests {
    @Test func onlyForwardMovesAreAllowed() {
        #expect(RecordState.armed.canChange(to: .injected))
        #expect(RecordState.injected.canChange(to: .reverted))
        #expect(RecordState.revertFailed.canChange(to: .reverted))
        #expect(RecordState.revertFailed.canChange(to: .revertFailed), "a retried undo that failed again")
        #expect(!RecordState.reverted.canChange(to: .injected))
        #expect(!RecordState.reverted.canChange(to: .revertFailed))
        #expect(!RecordState.irreversible.canChange(to: .reverted))
        #expect(!RecordState.injected.canChange(to: .armed))
        #expect(!RecordState.revertFailed.canChange(to: .injected))
    }

    /// A record's lock is one byte of the run's `records.lock`: it shuts out every other holder,
    /// another thread of the same process included, and no other record; no file per record.
    @Test func aRecordsLockShutsOutEveryOtherHolderOfThatRecordOnly() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = RecordStore(runDirectory: scratch.url)
        let held = try #require(try store.lock(3))
        #expect(try store.lock(3) == nil)
        #expect(try store.lock(3, waitingUntil: .now + .milliseconds(30)) == nil, "waiting does not break it")
        let other = try #require(try store.lock(4), "another record's lock is free")
        held.release()
        // Waiting, not one try: a child another test spawns at this moment shares the lock's
        // open file until its exec (as `RunLock.isHeld` explains), and keeps the byte locked that long.
        #expect(try store.lock(3, waitingUntil: .now + .seconds(2)) != nil, "released, it can be taken")
        other.release()
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == [RecordStore.locksFile])
    }

    @Test func aLateWriterCannotMakeARevertedRecordLive() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = RecordStore(runDirectory: scratch.url)
        var record = UndoRecord(
            runID: "r", sequence: 1, scenario: "s", fault: "f", plugin: "test", target: "t", kind: LoggingUndo.kind,
            data: try JSONValue(encoding: LoggingUndo.Payload(label: "a", log: "/dev/null")), state: .armed,
            armedAt: Date(), deadline: Date())
        try store.create(record)
        record.state = .reverted
        try store.update(record)
        record.state = .injected
        #expect(throws: RecordStore.Conflict.self) { try store.update(record) }
        #expect(try store.current(record)?.state == .reverted)
        #expect(throws: RecordStore.Conflict.self, "a record is created once") { try store.create(record) }
    }

    /// The race the guardian's deadline path had: it read an `armed` record while the runner was
    /// injecting, reverted nothing, wrote `reverted`, and the fault went live behind that record.
    @Test func theDeadlinePathLeavesARecordAloneWhileItsFaultIsBeingInjected() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: scratch.url.appendingPathComponent("state"), suites: [])
        defer { try? journal.close() }
        let runner = RollbackExecutor(catalog: .testing, actor: "runner", logger: testLogger)
        let scope = RollbackScope(journal: journal, scenario: "s", executor: runner)
        let guardian = RollbackExecutor(catalog: .testing, actor: Guardian.deadlineActor, logger: testLogger)
        let store = RecordStore(runDirectory: journal.directory)
        let plan = try FaultPlan(
            target: "t", undoKind: LoggingUndo.kind, undoData: LoggingUndo.Payload(label: "undo", log: log),
            undoSummary: "")
        let seenDuringInjection = Captured<[RollbackResult]>()
        let injected = try scope.armAndAct(
            Arming(fault: "f", plugin: "test", plan: plan, sequence: 1) {
                // The record is armed and already past its deadline; the guardian tries it now.
                let armed = try #require(
                    JournalReader(holding: journal.directory).run(at: journal.directory).records.first)
                #expect(armed.state == .armed)
                seenDuringInjection.value = guardian.execute([armed], store: store, waitForOthers: false)
                return nil
            }, lifetime: .zero)
        #expect(
            seenDuringInjection.value?.isEmpty == true, "the guardian skipped the record whose lock the runner held")
        #expect(LoggingUndo.lines(log).isEmpty, "no undo ran in the middle of the injection")
        #expect(try store.current(injected)?.state == .injected)
        // Now the fault is in place and overdue: the guardian takes it back (on a later pass if
        // a child that another test spawns still shares the record's lock until it execs), and
        // the runner's own rollback finds it done instead of reporting it as its own.
        #expect(
            TargetLocksTests.eventually {
                guardian.execute([injected], store: store, waitForOthers: false).map(\.record.state) == [.reverted]
            })
        let results = scope.rollback()
        #expect(results.map(\.record.revertedBy) == [Guardian.deadlineActor])
        #expect(LoggingUndo.lines(log) == ["undo"])
    }

    @Test func deadlinesCountFromInjectionAndMoveWithRenewal() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        defer { try? journal.close() }
        let scope = RollbackScope(
            journal: journal, scenario: "s",
            executor: RollbackExecutor(catalog: .testing, actor: "runner", logger: testLogger))
        let plan = try FaultPlan(
            target: "t", undoKind: LoggingUndo.kind, undoData: LoggingUndo.Payload(label: "a", log: "/dev/null"),
            undoSummary: "")
        let armedDeadline = Captured<Date>()
        let injected = try scope.armAndAct(
            Arming(fault: "f", plugin: "test", plan: plan, sequence: 1) {
                armedDeadline.value = try #require(
                    JournalReader(holding: journal.directory).run(at: journal.directory).records.first
                ).deadline
                Thread.sleep(forTimeInterval: 0.2)  // an injection that takes time: the deadline must not pay for it
                return nil
            }, lifetime: .seconds(10))
        let injectedAt = try #require(injected.injectedAt)
        #expect(abs(injected.deadline.timeIntervalSince(injectedAt) - 10) < 0.001)
        #expect(injected.deadline.timeIntervalSince(try #require(armedDeadline.value)) >= 0.2)
        Thread.sleep(forTimeInterval: 0.05)
        scope.renewDeadlines(lifetime: .seconds(10))
        let renewed = try #require(try RecordStore(runDirectory: journal.directory).current(injected))
        #expect(renewed.deadline > injected.deadline)
    }
}

/// The rollback has a budget: an undo that hangs cannot hold a CI job forever.
@Suite(.ownThread) struct RollbackBudgetTests {
    @Test func undosPastTheBudgetAreRecordedFailedInsteadOfHanging() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        let hang = scratch.url.appendingPathComponent("hang").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        _ = FileManager.default.createFile(atPath: hang, contents: nil)
        defer { unlink(hang) }
        let store = RecordStore(runDirectory: scratch.url)
        func record(_ sequence: Int, _ label: String, hangs: Bool) throws -> UndoRecord {
            UndoRecord(
                runID: "r", sequence: sequence, scenario: "s", fault: label, plugin: "test", target: label,
                kind: LoggingUndo.kind,
                data: try JSONValue(
                    encoding: LoggingUndo.Payload(label: label, log: log, hangWhile: hangs ? hang : nil)),
                state: .injected, armedAt: Date(), deadline: Date())
        }
        let records = [try record(1, "older", hangs: false), try record(2, "stuck", hangs: true)]
        try records.forEach(store.create)
        // One at a time, so the older undo waits behind the stuck one.
        let executor = RollbackExecutor(
            catalog: .testing, actor: "runner", budget: .milliseconds(300), forks: 1, logger: testLogger)
        let results = executor.execute(records, store: store)
        #expect(results.map(\.record.fault) == ["stuck", "older"])
        #expect(results.map(\.record.state) == [.revertFailed, .revertFailed])
        #expect(results[0].record.message?.contains("still running when the rollback budget (300ms) ran out") == true)
        #expect(results[1].record.message?.contains("not attempted") == true)
        #expect(
            try records.map { try store.current($0)?.state } == [.revertFailed, .revertFailed],
            "both outcomes are in the journal")
        #expect(LoggingUndo.lines(log) == ["stuck"], "the older undo never started")
        // The stuck undo still acts: its record stays locked until it ends, so no other
        // process can start the same undo meanwhile (the older record's lock is free).
        #expect(try store.lock(2) == nil, "the stuck undo's record is still locked")
        try #require(try store.lock(1, waitingUntil: .now + .seconds(2))).release()
        unlink(hang)
        let freed = try store.lock(2, waitingUntil: .now + .seconds(10))
        #expect(freed != nil, "released once the stuck undo ended")
        freed?.release()
    }
}

/// Records with numbers no Ebb writes are damage, reported and never executed.
@Suite(.ownThread) struct DamagedRecordTests {
    @Test(arguments: [
        ("\"sequence\":1,", "\"sequence\":1e300,"),
        ("\"attempts\":0,", "\"attempts\":9223372036854775807,"),
        ("\"label\":\"a\"", "\"label\":\"a\",\"timeoutSeconds\":1e300"),
        ("\"label\":\"a\"", "\"label\":\"a\",\"pid\":-1e30"),
    ])
    func absurdNumbersAreReportedAsDamage(original: String, replacement: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let scope = RollbackScope(
            journal: journal, scenario: "s",
            executor: RollbackExecutor(catalog: .testing, actor: "t", logger: testLogger))
        let plan = try FaultPlan(
            target: "t", undoKind: LoggingUndo.kind, undoData: LoggingUndo.Payload(label: "a", log: "/dev/null"),
            undoSummary: "")
        let record = try scope.arm(fault: "f", plugin: "test", plan: plan, sequence: 1, deadline: Date())
        try journal.close()
        let path = journal.directory.appendingPathComponent(record.fileName)
        let text = try String(contentsOf: path, encoding: .utf8)
        #expect(text.contains(original))
        try DurableFile.write(Data(text.replacingOccurrences(of: original, with: replacement).utf8), to: path.path)
        let run = JournalReader(stateDirectory: scratch.url).run(at: journal.directory)
        #expect(run.records.isEmpty)
        #expect(run.damaged.count == 1, "\(run.damaged)")
        let report = try Recovery(stateDirectory: scratch.url, catalog: .testing, logger: testLogger).execute(run)
        #expect(!report.isComplete)
    }
}

/// The journal is executed as code: only the user's own, unshared files are trusted.
@Suite(.ownThread) struct JournalTrustTests {
    @Test func aRecordOwnedBySomeoneElseOrWritableByOthersIsRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let scope = RollbackScope(
            journal: journal, scenario: "s",
            executor: RollbackExecutor(catalog: .testing, actor: "t", logger: testLogger))
        let plan = try FaultPlan(
            target: "t", undoKind: LoggingUndo.kind, undoData: LoggingUndo.Payload(label: "a", log: "/dev/null"),
            undoSummary: "")
        let first = try scope.arm(fault: "one", plugin: "test", plan: plan, sequence: 1, deadline: Date())
        let second = try scope.arm(fault: "two", plugin: "test", plan: plan, sequence: 2, deadline: Date())
        try journal.close()
        chmod(journal.directory.appendingPathComponent(first.fileName).path, 0o666)
        if geteuid() == 0 { chown(journal.directory.appendingPathComponent(second.fileName).path, 65534, 65534) }
        let run = JournalReader(stateDirectory: scratch.url).run(at: journal.directory)
        let problems = run.damaged.map(\.problem)
        #expect(problems.contains { $0.contains("writable by its group (mode 666)") })
        if geteuid() == 0 { #expect(problems.contains { $0.contains("owned by uid 65534") }) }
        #expect(run.needsRecovery, "an untrusted record is never executed, and never silently dropped")
    }

    @Test func aStateDirectoryOthersCanWriteIsRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        try journal.close()
        chmod(scratch.url.appendingPathComponent("rollback").path, 0o777)
        #expect(throws: DurableFile.Failure.self) { try JournalReader(stateDirectory: scratch.url).runs() }
        #expect(throws: DurableFile.Failure.self) { try RunJournal.create(stateDirectory: scratch.url, suites: []) }
    }
}

/// Nothing can wedge the journal: stray entries are reported and passed over, half-created
/// runs are never seen, and a run that can never be recovered can be forgotten.
@Suite(.ownThread) struct WedgedJournalTests {
    @Test func strayAndHalfCreatedEntriesNeitherBlockNorHide() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        try journal.close()
        #expect(journal.directory.lastPathComponent.hasPrefix(".") == false)
        let rollback = scratch.url.appendingPathComponent("rollback")
        try Data("junk".utf8).write(to: rollback.appendingPathComponent("notes.txt"))
        try FileManager.default.createDirectory(
            at: rollback.appendingPathComponent(".new-123-abcd"), withIntermediateDirectories: false)
        let runs = try JournalReader(stateDirectory: scratch.url).runs()
        #expect(runs.count == 2, "the half-created .new- directory is not a run")
        #expect(runs.filter(\.isStray).map(\.directory.lastPathComponent) == ["notes.txt"])
        #expect(try JournalReader(stateDirectory: scratch.url).runsNeedingRecovery().isEmpty)
    }

    @Test func aRunThatCanNeverBeRecoveredCanBeForgottenAndIsArchived() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let orphan = scratch.url.appendingPathComponent("rollback/1000-deadbeef")
        try FileManager.default.createDirectory(at: orphan, withIntermediateDirectories: true)
        chmod(scratch.url.path, 0o700)
        chmod(scratch.url.appendingPathComponent("rollback").path, 0o700)
        chmod(orphan.path, 0o700)
        let reader = JournalReader(stateDirectory: scratch.url)
        let run = try #require(try reader.runsNeedingRecovery().first, "a run without run.json needs a person")
        #expect(run.problem?.contains("run.json") == true)
        let archived = try JournalArchive.forget(run, stateDirectory: scratch.url)
        #expect(archived.path.hasSuffix("archive/1000-deadbeef"))
        #expect(FileManager.default.fileExists(atPath: archived.path))
        #expect(try reader.runsNeedingRecovery().isEmpty)
    }

    @Test func aLiveRunIsNeverForgotten() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        defer { try? journal.close() }
        let run = try #require(try JournalReader(stateDirectory: scratch.url).runs().first)
        #expect(throws: DurableFile.Failure.self) { try JournalArchive.forget(run, stateDirectory: scratch.url) }
    }
}

/// A run is tied to a machine, not to a hostname; cluster-only runs belong to no machine.
@Suite(.ownThread) struct HostIdentityTests {
    func deadRun(_ scratch: ScratchDirectory, kind: String, rewrite: (String) -> String) throws -> (RunSnapshot, String)
    {
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let state = scratch.url.appendingPathComponent("state")
        let journal = try RunJournal.create(stateDirectory: state, suites: [])
        let scope = RollbackScope(
            journal: journal, scenario: "s",
            executor: RollbackExecutor(catalog: .testing, actor: "t", logger: testLogger))
        let plan = try FaultPlan(
            target: "t", undoKind: kind, undoData: LoggingUndo.Payload(label: "undo", log: log), undoSummary: "")
        _ = try scope.arm(fault: "f", plugin: "test", plan: plan, sequence: 1, deadline: Date())
        try journal.close()
        // Rewritten as a dead, open run recorded elsewhere: what a crashed runner leaves.
        let info = journal.directory.appendingPathComponent("run.json")
        let text = rewrite(try String(contentsOf: info, encoding: .utf8))
            .replacingOccurrences(of: "\"status\" : \"closed\"", with: "\"status\" : \"open\"")
        try DurableFile.write(Data(text.utf8), to: info.path)
        return (JournalReader(stateDirectory: state).run(at: journal.directory), log)
    }

    @Test func theSameHostnameOnAnotherMachineIsAnotherHost() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let (run, log) = try deadRun(scratch, kind: LoggingUndo.kind) {
            $0.replacingOccurrences(of: "\"machineID\" : \"", with: "\"machineID\" : \"other-")
        }
        #expect(run.info?.machineID?.hasPrefix("other-") == true)
        let report = try Recovery(
            stateDirectory: scratch.url.appendingPathComponent("state"), catalog: .testing, logger: testLogger
        ).execute(run)
        #expect(report.refusal?.contains("recorded on host") == true)
        #expect(LoggingUndo.lines(log).isEmpty)
    }

    @Test func aRunOfClusterObjectsOnlyIsRecoveredFromAnyMachine() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let (run, log) = try deadRun(scratch, kind: ClusterUndo.kind) {
            $0.replacingOccurrences(
                of: "\"host\" : \"\(ProcessInfo.processInfo.hostName)\"", with: "\"host\" : \"ebb-nightly-28914-x7k2p\""
            )
        }
        let report = try Recovery(
            stateDirectory: scratch.url.appendingPathComponent("state"), catalog: .testing, logger: testLogger
        ).execute(run)
        #expect(report.refusal == nil)
        #expect(report.isComplete)
        #expect(LoggingUndo.lines(log) == ["undo"])
    }
}
