import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// `--fail-on` maps exit codes for CI gates without changing what happened.
@Suite(.ownThread) struct FailOnTests {
    static func suite(closedPort: Int, rollback: String) -> String {
        """
        suite: gate
        checks:
          - name: dependency
            tcp: { address: "127.0.0.1:\(closedPort)", timeout: 200ms }
            interval: 50ms
            phases: [during]
        scenarios:
          - name: one
            duration: 200ms
            faults:
              - command: { inject: [true], rollback: [\(rollback)] }
        """
    }

    @Test func rollbackPolicyPassesFailedChecksButNotAFailedRollback() throws {
        let workspace = try Workspace()
        let checksFail = try workspace.write(
            suite: Self.suite(closedPort: try freePort(), rollback: "true"), name: "checks.yaml")
        let plain = try EbbRun.run(["run", checksFail, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(plain.status == 1, "\(plain.stdout)\n\(plain.stderr)")
        let gated = try EbbRun.run(
            ["run", checksFail, "--state-dir", workspace.state.path, "--fail-on", "rollback"], in: workspace.url)
        #expect(gated.status == 0, "\(gated.stdout)\n\(gated.stderr)")
        #expect(gated.stdout.contains("Exit 1:"), "the console still says what happened")
        #expect(gated.stderr.contains("--fail-on rollback: exit 1"))

        let rollbackFails = try workspace.write(
            suite: Self.suite(closedPort: try freePort(), rollback: "false"), name: "rollback.yaml")
        let dirty = try EbbRun.run(
            ["run", rollbackFails, "--state-dir", workspace.state.path, "--fail-on", "rollback"], in: workspace.url)
        #expect(dirty.status == 2, "\(dirty.stdout)\n\(dirty.stderr)")
    }
}

/// A reader that goes away (`ebb run | head`, a dead log collector) must not end a run with
/// faults in place: ebb ignores SIGPIPE and drops output it cannot write.
@Suite(.ownThread) struct ClosedOutputTests {
    @Test func aClosedStdoutDoesNotInterruptTheRun() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(
            suite: """
                suite: piped
                allowed_roots: [files]
                scenarios:
                  - name: first
                    duration: 300ms
                    faults:
                      - file.corrupt: { path: files/a.txt }
                  - name: second
                    duration: 300ms
                    faults:
                      - file.remove: { path: files/b.txt }
                """)
        // head exits after the first line; every later write of ebb's meets a closed pipe.
        let script = "'\(EbbBinary.path)' run '\(suite)' --state-dir '\(workspace.state.path)' | head -n 1 >/dev/null"
        let result = try ChildProcess.run(["sh", "-c", script], timeout: .seconds(120), directory: workspace.url.path)
        #expect(result.status == 0, "\(result.output)")
        let run = try workspace.runDirectory(try unwrap(workspace.runIDs().first))
        let info = try String(contentsOf: run.appendingPathComponent("run.json"), encoding: .utf8)
        #expect(info.contains(#""status" : "closed""#), "\(info)")
        #expect(FileManager.default.fileExists(atPath: workspace.url.appendingPathComponent("reports/junit.xml").path))
        #expect(workspace.filesAreAsTheyWere())
    }
}
