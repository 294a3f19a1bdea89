import EbbCore
import EbbTestSupport
import Foundation
import Testing

@Suite(.ownThread) struct JournalTests {
    @Test func recordsAreDurableFilesWithPrivatePermissions() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let state = scratch.url.appendingPathComponent("state")
        let journal = try RunJournal.create(stateDirectory: state, suites: ["suite.yaml"])
        let scope = RollbackScope(
            journal: journal, scenario: "s one",
            executor: RollbackExecutor(catalog: .testing, actor: "test", logger: testLogger))
        let plan = try FaultPlan(
            target: "t", undoKind: LoggingUndo.kind,
            undoData: LoggingUndo.Payload(label: "a", log: "/dev/null"), undoSummary: "log")
        let record = try scope.arm(fault: "f/1", plugin: "test", plan: plan, sequence: 7, deadline: Date())
        let path = journal.directory.appendingPathComponent(record.fileName).path
        #expect(record.fileName == "0007-s_one-f_1.json")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: journal.directory.path)
        #expect((directoryAttributes[.posixPermissions] as? Int) == 0o700)
        let read = try JournalReader(stateDirectory: state).runs()
        #expect(read.count == 1)
        #expect(read.first?.records.first?.state == .armed)
        #expect(read.first?.isLive == true)
        #expect(read.first?.needsRecovery == false)
        try journal.close()
        #expect(try JournalReader(stateDirectory: state).runs().first?.info?.status == .closed)
    }

    @Test func aNewRunMakesTheMissingFoldersOfItsStateDirectoryPrivate() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let state = scratch.url.appending(path: "ci/cache/state")
        let journal = try RunJournal.create(stateDirectory: state, suites: [])
        defer { _ = try? journal.close() }
        let made = [
            scratch.url.appending(path: "ci"), scratch.url.appending(path: "ci/cache"), state,
            state.appending(path: "rollback"), journal.directory,
        ]
        for directory in made {
            let mode = try FileManager.default.attributesOfItem(atPath: directory.path)[.posixPermissions] as? Int
            #expect(mode == 0o700, "\(directory.path)")
        }
    }

    @Test func aFileWhereTheStateDirectoryGoesIsRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let file = scratch.url.appending(path: "ci")
        try Data().write(to: file)
        let error = #expect(throws: DurableFile.Failure.self) {
            try RunJournal.create(stateDirectory: file.appending(path: "state"), suites: [])
        }
        #expect(error?.description == "\(file.path) exists and is not a directory")
    }

    @Test func aDeadRunWithPendingRecordsNeedsRecovery() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        _ = try armLoggingRecord(in: journal, label: "a", log: "/dev/null")
        #expect(
            try RunLock.acquire(journal.directory) == nil, "the runner holds its run's lock while the journal is open")
        #expect(
            try JournalReader(stateDirectory: scratch.url).runsNeedingRecovery().isEmpty,
            "a live run is never recovered")
        // A copy of the directory has no lock holder: exactly what a SIGKILLed runner leaves behind.
        let dead = scratch.url.appendingPathComponent("dead-state")
        try FileManager.default.createDirectory(
            at: dead.appendingPathComponent("rollback"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: journal.directory,
            to: dead.appendingPathComponent("rollback").appendingPathComponent(journal.directory.lastPathComponent))
        let stale = try JournalReader(stateDirectory: dead).runsNeedingRecovery()
        #expect(stale.map(\.id) == [journal.runID])
        #expect(stale.first?.info?.status == .open)
    }

    @Test func aRunClosedWithEveryRecordRevertedIsSettledAndNotReadAgainWhenLookingForRuns() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("undo.log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let (scope, record) = try armLoggingRecord(in: journal, label: "a", log: log)
        #expect(scope.rollback().map(\.record.state) == [.reverted])
        try journal.close()

        let reader = JournalReader(stateDirectory: scratch.url)
        let full = try #require(try reader.runs().first)
        #expect(full.info?.settled == true)
        #expect(full.records.map(\.state) == [.reverted])
        let quick = try #require(try reader.runs(skippingSettledRecords: true).first)
        #expect(quick.recordsSkipped && quick.entries.isEmpty && !quick.needsRecovery)
        #expect(quick.info?.status == .closed)
        // Damage after the close: the recovery lookups pass the settled run by, the listing shows it.
        try Data("{\"state\": \"inj".utf8).write(to: journal.directory.appendingPathComponent(record.fileName))
        #expect(try reader.runsNeedingRecovery().isEmpty)
        #expect(try reader.runs().first?.damaged.count == 1)
    }

    /// An outcome the journal could not make durable may read `reverted` now and pending after a
    /// crash: a run closed with one is not settled, so its records are still read.
    @Test func aRunClosedWithAnOutcomeNotMadeDurableIsNotSettled() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("undo.log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let (scope, _) = try armLoggingRecord(in: journal, label: "a", log: log)
        #expect(scope.rollback().map(\.record.state) == [.reverted])
        let closed = try journal.close(outcomesDurable: false)
        #expect(closed.isSettled, "every record reads reverted")
        let run = try #require(try JournalReader(stateDirectory: scratch.url).runs(skippingSettledRecords: true).first)
        #expect(run.info?.settled == false)
        #expect(!run.recordsSkipped && run.records.map(\.state) == [.reverted])
    }

    @Test func aRunClosedWithAPendingRecordIsNotSettledUntilARecoveryRevertsIt() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("undo.log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        _ = try armLoggingRecord(in: journal, label: "a", log: log)
        try journal.close()

        let reader = JournalReader(stateDirectory: scratch.url)
        let pending = try #require(try reader.runsNeedingRecovery().first)
        #expect(pending.info?.settled == false)
        #expect(!pending.recordsSkipped && pending.records.map(\.state) == [.armed])
        let report = try Recovery(stateDirectory: scratch.url, catalog: .testing, logger: testLogger).execute(pending)
        #expect(report.isComplete)
        #expect(LoggingUndo.lines(log) == ["a"])
        let after = try #require(try reader.runs().first)
        #expect(after.info?.settled == true)
        #expect(after.info?.status == .closed, "a closed run keeps its status")
        #expect(try reader.runs(skippingSettledRecords: true).first?.recordsSkipped == true)
    }

    @Test func damagedRecordsAreReportedNotSkipped() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        try Data("{\"state\": \"inj".utf8).write(to: journal.directory.appendingPathComponent("0001-s-f.json"))
        try Data("half".utf8).write(to: journal.directory.appendingPathComponent(".tmp-0002-s-g.json-1"))
        try journal.close()
        let run = try #require(try JournalReader(stateDirectory: scratch.url).runs().first)
        #expect(run.damaged.count == 1)
        #expect(run.damaged.first?.path.hasSuffix("0001-s-f.json") == true)
        #expect(run.damaged.first?.problem.contains("not valid JSON") == true)
        #expect(run.interruptedWrites.count == 1)
        #expect(run.needsRecovery)
    }

    /// Record file names are how every version finds a record: they must never change.
    @Test func recordFileNamesStayAsEarlierVersionsWroteThem() throws {
        func name(_ scenario: String, _ fault: String, sequence: Int = 7) throws -> String {
            UndoRecord(
                runID: "r", sequence: sequence, scenario: scenario, fault: fault, plugin: "p", target: "t", kind: "k",
                data: .null, state: .armed, armedAt: Date(), deadline: Date()
            ).fileName
        }
        #expect(try name("pause-service", "process.pause") == "0007-pause_service-process.pause.json")
        #expect(try name("café e\u{301}", "a/b c") == "0007-caf___-a_b_c.json", "one _ per character, accents and all")
        #expect(try name(String(repeating: "x", count: 70), "f") == "0007-\(String(repeating: "x", count: 60))-f.json")
        #expect(try name("a\r\nb\tc", "x:y|z") == "0007-a_b_c-x_y_z.json", "CR LF is one character")
        #expect(try name("s", "f", sequence: 12_345) == "12345-s-f.json")
    }

    /// The runner and the deadline heartbeat both copy a record's files into the host registry:
    /// two threads writing one file must both succeed and leave one whole version.
    @Test func threadsWritingOneFileAtOnceAllSucceed() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.url.appendingPathComponent("shared.json").path
        let versions = (0..<16).map { Data(String(repeating: "\($0 % 10)", count: 4096 + $0).utf8) }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 400) { index in
            do { try DurableFile.write(versions[index % versions.count], to: path) } catch { failures.add("\(error)") }
        }
        let failed = failures.all
        #expect(failed.count == 0, "first failure: \(failed.first ?? "")")
        #expect(versions.contains(try DurableFile.read(path)))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter {
            $0.hasPrefix(".tmp-")
        }
        #expect(leftovers.isEmpty)
    }

    /// On one file system the registry's copy of a record is the journal's file under a second
    /// name: it follows every new version and outlives the journal's deletion.
    @Test func aRecordsRegistryCopyIsTheJournalsFileAndOutlivesTheJournal() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        var (journal, store, record, original, copy) = try armedRecord(in: scratch, registry: registry)
        #expect(inode(copy) != nil && inode(copy) == inode(original), "armed: one file, two names")
        record.state = .injected
        try store.update(record)
        #expect(inode(copy) == inode(original), "the copy is still the journal's file, with the new version")
        #expect(try DurableFile.read(copy) == DurableFile.read(original))
        #expect(try temporaryNames(in: registry.copy(of: journal.directory)).isEmpty)
        try FileManager.default.removeItem(at: journal.directory)
        #expect(
            try UndoRecord.latest(in: DurableFile.read(copy)).record.state == .injected, "the copy outlives the journal"
        )
    }

    /// A workspace being deleted can take a pending record's file out of the journal before
    /// `run.json`: the registry copy is then the record's last name. Recovery must read it
    /// there, undo it, and remove the copy only once nothing in it is pending.
    @Test func aRecordLeftOnlyInTheRegistryCopyIsRecoveredBeforeTheCopyGoes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let (state, journal, record, copy) = try runWithRecordOnlyInItsCopy(in: scratch, undoLog: "undo.log")
        let run = JournalReader(stateDirectory: state).run(at: journal.directory)
        #expect(run.records.map(\.fileName) == [record.fileName], "the copy's record is read")
        #expect(run.needsRecovery && !run.isSettled)

        let report = try Recovery(stateDirectory: state, catalog: .testing, logger: testLogger).execute(run)
        #expect(report.isComplete, "\(report.results.map(\.record.message))")
        #expect(try String(contentsOfFile: scratch.path + "/undo.log", encoding: .utf8) == "a\n", "the undo ran")
        let after = JournalReader(stateDirectory: state).run(at: journal.directory)
        #expect(after.records.map(\.state) == [.reverted])
        #expect(after.isSettled)
        #expect(!FileManager.default.fileExists(atPath: copy.path), "nothing is pending: the copy is removed")
    }

    /// The same, with an undo that fails: the run is not settled and the copy stays, holding
    /// the record, for a later `rollback execute` or sweep.
    @Test func aRecordOnlyInTheRegistryCopyWhoseUndoFailsKeepsTheCopy() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let (state, journal, record, copy) = try runWithRecordOnlyInItsCopy(in: scratch, undoLog: "missing/undo.log")
        let run = JournalReader(stateDirectory: state).run(at: journal.directory)
        let report = try Recovery(stateDirectory: state, catalog: .testing, logger: testLogger).execute(run)
        #expect(!report.isComplete)
        let after = JournalReader(stateDirectory: state).run(at: journal.directory)
        #expect(after.records.map(\.state) == [.revertFailed])
        #expect(!after.isSettled && after.needsRecovery)
        let kept = copy.appendingPathComponent(record.fileName).path
        #expect(try UndoRecord.latest(in: DurableFile.read(kept)).record.state == .revertFailed)
    }

    /// A recovery at work when its workspace is deleted (journal and all) records its outcome in
    /// the registry copy, writing nothing where the journal was: the copy then holds nothing
    /// pending, so no sweep runs the undo a second time.
    @Test func anOutcomeWhoseJournalWasDeletedIsRecordedInTheRegistryCopy() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        var (_, record) = try armLoggingRecord(in: journal, label: "a", log: "/dev/null")
        let store = RecordStore(journal: journal)
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("state"))

        record.state = .reverted
        record.finishedAt = Date()
        try store.update(record)
        let kept = registry.copy(of: journal.directory).appendingPathComponent(record.fileName).path
        #expect(try UndoRecord.latest(in: DurableFile.read(kept)).record.state == .reverted)
        #expect(!FileManager.default.fileExists(atPath: journal.directory.path), "nothing written where it was")
    }

    /// A scope arms into the registry copy its journal knows, without reading `run.json` back:
    /// a read that fails (a descriptor limit, an I/O error) must not leave the records without
    /// their copy, silently.
    @Test func aScopeArmsIntoTheRegistryCopyWithoutReadingRunJSONBack() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        let runJSON = journal.directory.appendingPathComponent("run.json")
        let aside = scratch.url.appendingPathComponent("run.json")
        try FileManager.default.moveItem(at: runJSON, to: aside)
        let (_, record) = try armLoggingRecord(in: journal, label: "a", log: "/dev/null")
        try FileManager.default.moveItem(at: aside, to: runJSON)
        let original = journal.directory.appendingPathComponent(record.fileName).path
        let copy = registry.copy(of: journal.directory).appendingPathComponent(record.fileName).path
        #expect(DurableFile.isSameFile(original, copy), "the record was armed into the copy too")
        try journal.close()
    }

    /// A closed, unsettled run with a host registry whose one record (armed, undone by
    /// ``LoggingUndo`` into `undoLog` under `scratch`) is gone from the journal but still in
    /// the registry copy: the state folder, the journal, the record and the copy's folder.
    private func runWithRecordOnlyInItsCopy(
        in scratch: ScratchDirectory, undoLog: String
    ) throws -> (state: URL, journal: RunJournal, record: UndoRecord, copy: URL) {
        let state = scratch.url.appendingPathComponent("state")
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let log = scratch.url.appendingPathComponent(undoLog).path
        // Not made where its folder is missing: then the undo fails.
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: state, suites: [], registry: registry)
        let (_, record) = try armLoggingRecord(in: journal, label: "a", log: log)
        try journal.close()
        let copy = registry.copy(of: journal.directory)
        try #require(FileManager.default.fileExists(atPath: copy.appendingPathComponent(record.fileName).path))
        try FileManager.default.removeItem(at: journal.directory.appendingPathComponent(record.fileName))
        return (state, journal, record, copy)
    }

    /// Where the registry is on another file system (no hard link can be made), a record's copy
    /// is a file of its own with the same content, and later versions reach it too.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/shm")))
    func aRegistryOnAnotherFileSystemGetsACopyOfEachRecord() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let elsewhere = URL(fileURLWithPath: "/dev/shm/ebb-registry-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        var shm = stat()
        var scratchStatus = stat()
        try #require(stat("/dev/shm", &shm) == 0 && stat(scratch.path, &scratchStatus) == 0)
        try #require(shm.st_dev != scratchStatus.st_dev, "/dev/shm is on the scratch folder's file system")
        let registry = HostRegistry(directory: elsewhere)
        var (journal, store, record, original, copy) = try armedRecord(in: scratch, registry: registry)
        #expect(inode(copy) != nil && !DurableFile.isSameFile(copy, original), "a file of its own")
        #expect(try DurableFile.read(copy) == DurableFile.read(original))
        record.state = .injected
        try store.update(record)
        #expect(try UndoRecord.latest(in: DurableFile.read(copy)).record.state == .injected)
        #expect(try temporaryNames(in: registry.copy(of: journal.directory)).isEmpty)
    }

    /// A new run with `registry` and one record armed in it: the record, its file and its copy's path.
    private func armedRecord(
        in scratch: ScratchDirectory, registry: HostRegistry
    ) throws -> (
        journal: RunJournal, store: RecordStore, record: UndoRecord, original: String, copy: String
    ) {
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        let store = RecordStore(runDirectory: journal.directory)
        let record = plainRecord(of: journal, state: .armed)
        try store.create(record)
        return (
            journal, store, record, journal.directory.appendingPathComponent(record.fileName).path,
            registry.copy(of: journal.directory).appendingPathComponent(record.fileName).path
        )
    }

    private func temporaryNames(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".tmp-") }
    }

    /// A record's later versions are appended to its one file: no new inode per change, and
    /// the last complete version is the record, even when a crash cut the next one short.
    @Test func laterVersionsAreAppendedAndACutLastVersionLeavesThePreviousOne() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let store = RecordStore(runDirectory: journal.directory)
        var record = plainRecord(of: journal, state: .armed)
        let path = journal.directory.appendingPathComponent(record.fileName).path
        try store.create(record)
        let created = inode(path)
        record.state = .injected
        try store.replace(heldSinceWritten: [record])
        record.state = .reverted
        try store.update(record)
        #expect(inode(path) == created, "one file from arming to outcome")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 3)
        #expect(
            JournalReader(holding: journal.directory).run(at: journal.directory).records.map(\.state) == [.reverted])

        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n{\"armedAt\":\"2026-12-".utf8) + Data(repeating: 0, count: 64))
        try handle.close()
        let run = JournalReader(holding: journal.directory).run(at: journal.directory, probingLiveness: false)
        #expect(run.records.map(\.state) == [.reverted], "the cut version is not the record")
        #expect(run.unfinishedVersions == [path], "and it is reported")
        #expect(run.damaged.isEmpty && !run.isSettled)
        try journal.close()
    }

    /// A rollback reads a record once, under its lock, and its outcome is checked against that
    /// read: a change the state as read does not allow is refused, one it allows is written.
    @Test func anOutcomeUnderAHeldLockIsCheckedAgainstTheRecordAsRead() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let store = RecordStore(runDirectory: journal.directory)
        var record = plainRecord(of: journal, state: .injected)
        try store.create(record)
        let lock = try #require(try store.lock(record.sequence))
        defer { lock.release() }
        let read = try #require(try store.current(record))
        var reverted = read
        reverted.state = .reverted
        try store.update(reverted, readUnderHeldLock: read)
        #expect(try store.current(record)?.state == .reverted)
        record.state = .injected
        #expect(throws: RecordStore.Conflict.self) { try store.update(record, readUnderHeldLock: reverted) }
        #expect(try store.current(record)?.state == .reverted, "the refused change wrote nothing")
        try journal.close()
    }

    /// Only a last line that is not JSON was cut short: a complete one with a field out of
    /// range is damage, never passed over for the version before it.
    @Test func aCompleteLastVersionWithAFieldOutOfRangeIsDamage() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        let store = RecordStore(runDirectory: journal.directory)
        var record = plainRecord(of: journal, state: .armed)
        let path = journal.directory.appendingPathComponent(record.fileName).path
        try store.create(record)
        record.state = .injected
        try store.update(record)
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        let popped = lines.popLast()
        let last = try #require(popped)
        #expect(last.contains("\"attempts\":0,"))
        lines.append(last.replacingOccurrences(of: "\"attempts\":0,", with: "\"attempts\":9223372036854775807,"))
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let run = JournalReader(holding: journal.directory).run(at: journal.directory, probingLiveness: false)
        #expect(run.records.isEmpty && run.unfinishedVersions.isEmpty)
        #expect(run.damaged.first?.problem.contains("out of range") == true, "\(run.damaged)")
        try journal.close()
    }

    /// A record renewed for hours (a fixture's deadline) does not grow without end: past the
    /// limit its file is written anew with its latest version, and the registry links that.
    @Test func aRecordFileThatGrewLongIsWrittenAnewWithItsLatestVersion() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let registry = HostRegistry(directory: scratch.url.appendingPathComponent("registry"))
        let journal = try RunJournal.create(
            stateDirectory: scratch.url.appendingPathComponent("state"), suites: [], registry: registry)
        let store = RecordStore(runDirectory: journal.directory)
        var record = plainRecord(of: journal, scenario: "setup", fault: "db", state: .injected)
        let path = journal.directory.appendingPathComponent(record.fileName).path
        let copy = registry.copy(of: journal.directory).appendingPathComponent(record.fileName).path
        try store.create(record)
        func size() throws -> Int { try DurableFile.read(path).count }
        var renewals = 0
        while try size() < RecordStore.versionsLimit {
            record.deadline = record.deadline.addingTimeInterval(1)
            try store.update(record)
            renewals += 1
        }
        record.deadline = record.deadline.addingTimeInterval(1)
        try store.update(record)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(renewals > 10 && text.split(separator: "\n").count == 1)
        let latest = try UndoRecord.latest(in: DurableFile.read(path)).record
        #expect(abs(latest.deadline.timeIntervalSince(record.deadline)) < 0.001, "the latest deadline is kept")
        #expect(DurableFile.isSameFile(path, copy), "the registry's copy is the new file")
        try journal.close()
    }

    /// Records of older builds are one pretty-printed document; a later version is appended.
    @Test func aRecordWrittenByAnOlderBuildGetsItsNextVersionAppended() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        var record = plainRecord(
            of: journal, state: .injected,
            data: .object(["nested": .object(["list": .array([.object(["a": .number(1)])])])]))
        let path = journal.directory.appendingPathComponent(record.fileName).path
        try DurableFile.write(try JSONEncoder.journal.encode(record), to: path)
        #expect(try UndoRecord.latest(in: DurableFile.read(path)).record.state == .injected)
        record.state = .reverted
        try RecordStore(runDirectory: journal.directory).update(record)
        let latest = try UndoRecord.latest(in: DurableFile.read(path))
        #expect(latest.record.state == .reverted && !latest.unfinishedTail)
        try journal.close()
    }

    @Test func symlinksInTheStateDirectoryAreRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let elsewhere = scratch.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let state = scratch.url.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: state.appendingPathComponent("rollback"), withDestinationURL: elsewhere)
        #expect(throws: DurableFile.Failure.self) { try RunJournal.create(stateDirectory: state, suites: []) }
        #expect(throws: DurableFile.Failure.self) { try JournalReader(stateDirectory: state).runs() }
    }
}

@Suite(.ownThread) struct RecoveryOwnershipTests {
    @Test func aRunRecordedOnAnotherHostIsReportedNotExecuted() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = scratch.url.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let journal = try RunJournal.create(stateDirectory: scratch.url, suites: [])
        _ = try armLoggingRecord(in: journal, label: "undo", log: log)
        // Rewrite run.json as if another machine had written it, then let the run die.
        let info = journal.directory.appendingPathComponent("run.json")
        let text = try String(contentsOf: info, encoding: .utf8)
            .replacingOccurrences(
                of: "\"host\" : \"\(ProcessInfo.processInfo.hostName)\"", with: "\"host\" : \"elsewhere\"")
        try DurableFile.write(Data(text.utf8), to: info.path)
        let dead = scratch.url.appendingPathComponent("dead")
        try FileManager.default.createDirectory(
            at: dead.appendingPathComponent("rollback"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: journal.directory, to: dead.appendingPathComponent("rollback/\(journal.directory.lastPathComponent)"))

        var recovery = Recovery(stateDirectory: dead, catalog: .testing, logger: testLogger)
        let run = try #require(try recovery.reader.runs().first)
        let refused = try recovery.execute(run)
        #expect(refused.refusal?.contains("recorded on host elsewhere") == true)
        #expect(!refused.isComplete)
        #expect(LoggingUndo.lines(log).isEmpty, "nothing was executed")
        recovery.allowsOtherHosts = true
        #expect(try recovery.execute(run).isComplete)
        #expect(LoggingUndo.lines(log) == ["undo"])
    }
}

/// Errors collected from concurrent work.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ item: String) { lock.withLock { items.append(item) } }
    var all: [String] { lock.withLock { items } }
}

/// Record 1 of `journal`, for tests of how records are stored rather than undone.
private func plainRecord(
    of journal: RunJournal, scenario: String = "s", fault: String = "f", state: RecordState, data: JSONValue = .null
) -> UndoRecord {
    UndoRecord(
        runID: journal.runID, sequence: 1, scenario: scenario, fault: fault, plugin: "p", target: "t", kind: "k",
        data: data, state: state, armedAt: Date(), deadline: Date())
}

/// The inode number of the file at `path`, if there is one.
private func inode(_ path: String) -> UInt64? {
    var info = stat()
    return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
}
