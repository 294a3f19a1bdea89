import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `process.freeze` against a real process and the machine's real cgroup freezer. Creating
/// cgroups needs root: CI runs as root; elsewhere these tests are skipped, saying why.
@Suite(.serialized, .ownThread, .enabled(if: getuid() == 0, "process.freeze creates cgroups, which needs root"))
struct FreezeTests {
    static func suite(marker: String, hold: String) -> String {
        """
        suite: freeze
        scenarios:
          - name: freeze
            duration: \(hold)
            faults:
              - process.freeze: { match: "sleep \(marker)" }
        """
    }

    @Test func theTargetIsFrozenInTheRunsOwnCgroupAndPutBackAfter() throws {
        let workspace = try Workspace()
        defer { CgroupCleanup.removeGroups(of: workspace) }
        let marker = "\(Int.random(in: 100_000...999_999)).7"
        let target = try workspace.startSleeper(marker)
        let before = CgroupCleanup.lines(target)
        let suite = try workspace.write(suite: Self.suite(marker: marker, hold: "2s"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(CgroupCleanup.lines(target).contains("/ebb-\(id)-"), "\(CgroupCleanup.lines(target))")
        let group = try #require(CgroupCleanup.ebbGroups().first { $0.contains(id) })
        let frozen =
            (try? String(contentsOfFile: "\(group)/cgroup.events", encoding: .utf8)).map { $0.contains("frozen 1") }
            ?? (try? String(contentsOfFile: "\(group)/freezer.state", encoding: .utf8)).map { $0.hasPrefix("FROZEN") }
        #expect(frozen == true)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(CgroupCleanup.lines(target) == before)
        #expect(!CgroupCleanup.ebbGroups().contains { $0.contains(id) })
    }

    @Test func rollbackExecuteThawsAfterTheRunnerIsKilled() throws {
        let workspace = try Workspace()
        defer { CgroupCleanup.removeGroups(of: workspace) }
        let marker = "\(Int.random(in: 100_000...999_999)).8"
        let target = try workspace.startSleeper(marker)
        let before = CgroupCleanup.lines(target)
        let suite = try workspace.write(suite: Self.suite(marker: marker, hold: "5m"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path, "--no-guardian"], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(CgroupCleanup.lines(target).contains("/ebb-\(id)-"))
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(CgroupCleanup.lines(target) == before)
        #expect(!CgroupCleanup.ebbGroups().contains { $0.contains(id) })
        // Idempotent: a second execution finds nothing to do.
        let again = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
    }
}
