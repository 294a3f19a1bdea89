import Foundation
import Testing

/// `--fail-on` maps exit codes for CI gates without changing what happened.
@Suite struct FailOnTests {
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
        let checksFail = try workspace.write(suite: Self.suite(closedPort: try freePort(), rollback: "true"), name: "checks.yaml")
        let plain = try EbbRun.run(["run", checksFail, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(plain.status == 1, "\(plain.stdout)\n\(plain.stderr)")
        let gated = try EbbRun.run(["run", checksFail, "--state-dir", workspace.state.path, "--fail-on", "rollback"], in: workspace.url)
        #expect(gated.status == 0, "\(gated.stdout)\n\(gated.stderr)")
        #expect(gated.stdout.contains("Exit 1:"), "the console still says what happened")
        #expect(gated.stderr.contains("--fail-on rollback: exit 1"))

        let rollbackFails = try workspace.write(suite: Self.suite(closedPort: try freePort(), rollback: "false"), name: "rollback.yaml")
        let dirty = try EbbRun.run(["run", rollbackFails, "--state-dir", workspace.state.path, "--fail-on", "rollback"], in: workspace.url)
        #expect(dirty.status == 2, "\(dirty.stdout)\n\(dirty.stderr)")
    }
}
