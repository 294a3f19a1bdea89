import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A journal can never wedge Ebb: what cannot be recovered can be forgotten on a person's word,
/// and recovery works where the machine is half broken.
@Suite(.serialized, .ownThread) struct JournalRecoveryTests {
    /// A runner SIGKILLed with no guardian: its records stay pending for a person.
    func deadRun(_ workspace: Workspace, faults: String) throws -> String {
        let suite = try workspace.write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                \(faults)
                """)
        let run = try EbbRun(["run", suite, "--no-guardian", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"))
        run.signal(SIGKILL)
        _ = run.wait()
        return try unwrap(workspace.runIDs().first)
    }

    @Test func aHalfWrittenRunBlocksRunsUntilItIsForgotten() throws {
        let workspace = try Workspace()
        let orphan = workspace.state.appendingPathComponent("rollback/1700000000000000000-0badf00d")
        try FileManager.default.createDirectory(at: orphan, withIntermediateDirectories: true)
        for path in [workspace.state.path, workspace.state.appendingPathComponent("rollback").path, orphan.path] {
            chmod(path, 0o700)
        }
        let suite = try workspace.write(quickSuiteWith: "file.corrupt: { path: files/a.txt }")
        let blocked = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(blocked.status == 3)
        #expect(blocked.stderr.contains("ebb rollback forget --run"))
        let forget = try EbbRun.run(
            ["rollback", "forget", "--run", "1700000000000000000-0badf00d", "--state-dir", workspace.state.path],
            in: workspace.url)
        #expect(forget.status == 0, "\(forget.stdout)\n\(forget.stderr)")
        #expect(
            FileManager.default.fileExists(
                atPath: workspace.state.appendingPathComponent("archive/1700000000000000000-0badf00d").path))
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.filesAreAsTheyWere())
    }

    @Test func forgettingARunWithPendingRecordsNeedsYesAndSaysWhatMayBeLeft() throws {
        let workspace = try Workspace()
        let runID = try deadRun(workspace, faults: "      - file.truncate: { path: files/a.txt }")
        let refused = try EbbRun.run(
            ["rollback", "forget", "--run", runID, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("injected, file.truncate"))
        #expect(try workspace.runDirectory(runID).path.isEmpty == false, "still in the journal")
        let forgotten = try EbbRun.run(
            ["rollback", "forget", "--run", runID, "--yes", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(forgotten.status == 0)
        #expect(forgotten.stdout.contains("not reverted by Ebb"))
        #expect(!workspace.filesAreAsTheyWere(), "forget reverts nothing")
        // The record and its backup are in the archive: a person can still put the file back.
        let archived = try FileManager.default.contentsOfDirectory(
            atPath: workspace.state.appendingPathComponent("archive").path)
        #expect(archived.count == 1)
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.stdout.contains("Nothing to execute"))
        try workspace.originals["a.txt"]!.write(
            to: workspace.files.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
    }

    /// An undo's command output goes to memory, not to $TMPDIR: recovery must work on a machine
    /// whose temp folder is gone or full.
    @Test func recoveryNeedsNoWritableTempFolder() throws {
        let workspace = try Workspace()
        _ = try deadRun(
            workspace,
            faults: """
                      - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag], verify: [test, '!', -e, files/flag] }
                """)
        #expect(FileManager.default.fileExists(atPath: workspace.files.appendingPathComponent("flag").path))
        let execute = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: ["TMPDIR": "/nonexistent/ebb-no-tmp"])
        #expect(execute.wait() == 0, "\(execute.stdout)\n\(execute.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.files.appendingPathComponent("flag").path))
    }

    /// A state directory made in a folder its user can write but not read (so not fsync): the
    /// new directory's name could be lost in a crash with every record written into it, so the
    /// run stops with exit 3 and a message naming the folder, before anything is injected.
    @Test(.enabled(if: geteuid() == 0, "runs ebb as nobody, which only root can"))
    func aStateDirectoryWhoseNameCannotBeMadeDurableIsRefused() throws {
        let workspace = try Workspace()
        defer { try? FileManager.default.removeItem(at: workspace.url) }
        // Writable and searchable for everyone, readable by no one but root.
        let dropbox = workspace.url.appendingPathComponent("dropbox")
        try FileManager.default.createDirectory(at: dropbox, withIntermediateDirectories: false)
        chmod(dropbox.path, 0o333)
        let flag = dropbox.appendingPathComponent("flag").path
        let suite = try workspace.write(
            suite: """
                scenarios:
                  - name: one
                    duration: 100ms
                    faults:
                      - command: { inject: [touch, \(flag)], rollback: [rm, -f, \(flag)] }
                """)
        let output = workspace.url.appendingPathComponent("nobody.log").path
        // A copy nobody can run: the build folder may sit in a clone that only root can enter.
        let binary = workspace.url.appendingPathComponent("ebb").path
        try FileManager.default.copyItem(atPath: EbbBinary.path, toPath: binary)
        let pid = try ChildProcess.spawn(
            [
                "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "run", suite,
                "--state-dir", dropbox.appendingPathComponent("state").path,
                "--report-dir", dropbox.appendingPathComponent("reports").path, "--no-guardian",
            ],
            environment: ["EBB_REGISTRY_DIR": "off", "PATH": "/usr/bin:/bin"], directory: dropbox.path,
            outputPath: output, errorPath: output)
        let status = ChildProcess.wait(pid, timeout: .seconds(60))
        let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 3, "\(said)")
        #expect(said.contains("cannot create the journal") && said.contains(dropbox.path), "\(said)")
        #expect(!FileManager.default.fileExists(atPath: flag), "nothing was injected")
    }

    /// A hand-edited record with a number no Ebb writes is reported as damaged: recovery says so
    /// and exits 2, and never crashes.
    @Test func anAbsurdNumberInARecordIsDamageNotACrash() throws {
        let workspace = try Workspace()
        let runID = try deadRun(
            workspace,
            faults: """
                      - command: { inject: [touch, files/flag], rollback: [rm, -f, files/flag] }
                """)
        let directory = try workspace.runDirectory(runID)
        let name = try unwrap(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).first {
                $0.hasSuffix("-hold-command.json")
            })
        let path = directory.appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let edited = text.replacingOccurrences(of: #""timeoutSeconds":60"#, with: #""timeoutSeconds":1e300"#)
        #expect(edited != text)
        try DurableFile.write(Data(edited.utf8), to: path)
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 2, "\(execute.stdout)\n\(execute.stderr)")
        #expect((execute.stdout + execute.stderr).contains("out of range"))
        try? FileManager.default.removeItem(at: workspace.files.appendingPathComponent("flag"))
    }

    /// A runner that reverted everything and died before closing its journal leaves a run that
    /// is open with nothing pending (seen in the torture test); `execute --all` closes it.
    @Test func aDeadRunLeftOpenWithNothingPendingIsClosedByExecuteAll() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(quickSuiteWith: "file.corrupt: { path: files/a.txt }")
        let run = try EbbRun.run(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.status == 0)
        let runID = try unwrap(workspace.runIDs().first)
        // What the runner's death just before closing leaves: every record final, run.json open.
        let info = try workspace.runDirectory(runID).appendingPathComponent("run.json")
        let text = try String(contentsOf: info, encoding: .utf8).replacingOccurrences(
            of: "\"status\" : \"closed\"", with: "\"status\" : \"open\"")
        try DurableFile.write(Data(text.utf8), to: info.path)
        let execute = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(execute.status == 0, "\(execute.stdout)\n\(execute.stderr)")
        let list = try EbbRun.run(["rollback", "list", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(list.stdout.contains("run \(runID)  crashed-recovered"), "\(list.stdout)")
        #expect(workspace.filesAreAsTheyWere())
    }
}
