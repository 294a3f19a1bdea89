import EbbCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `process.freeze` against a real process and the machine's real cgroup freezer. Creating
/// cgroups needs root: CI runs as root; elsewhere these tests are skipped, saying why.
@Suite(.serialized, .enabled(if: getuid() == 0, "process.freeze creates cgroups, which needs root"))
struct FreezeTests {
    func cgroupLines(_ pid: Int32) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
    }

    func ebbGroups() -> [String] {
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/freezer"].flatMap { root in
            ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("ebb-") }.map { "\(root)/\($0)" }
        }
    }

    /// Removes cgroups a failed test may have left: thaw, move members to the root, rmdir.
    func cleanUp(_ workspace: Workspace) {
        for id in workspace.runIDs() {
            for group in ebbGroups() where group.contains(id) {
                let root = (group as NSString).deletingLastPathComponent
                try? "0".write(toFile: "\(group)/cgroup.freeze", atomically: false, encoding: .utf8)
                try? "THAWED".write(toFile: "\(group)/freezer.state", atomically: false, encoding: .utf8)
                let members = (try? String(contentsOfFile: "\(group)/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in members.split(separator: "\n") {
                    try? String(pid).write(toFile: "\(root)/cgroup.procs", atomically: false, encoding: .utf8)
                }
                rmdir(group)
            }
        }
    }

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
        defer { cleanUp(workspace) }
        let marker = "\(Int.random(in: 100_000...999_999)).7"
        let target = try workspace.startSleeper(marker)
        let before = cgroupLines(target)
        let suite = try workspace.write(suite: Self.suite(marker: marker, hold: "2s"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(cgroupLines(target).contains("/ebb-\(id)-"), "\(cgroupLines(target))")
        let group = try #require(ebbGroups().first { $0.contains(id) })
        let frozen = (try? String(contentsOfFile: "\(group)/cgroup.events", encoding: .utf8)).map { $0.contains("frozen 1") }
            ?? (try? String(contentsOfFile: "\(group)/freezer.state", encoding: .utf8)).map { $0.hasPrefix("FROZEN") }
        #expect(frozen == true)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(cgroupLines(target) == before)
        #expect(!ebbGroups().contains { $0.contains(id) })
    }

    @Test func rollbackExecuteThawsAfterTheRunnerIsKilled() throws {
        let workspace = try Workspace()
        defer { cleanUp(workspace) }
        let marker = "\(Int.random(in: 100_000...999_999)).8"
        let target = try workspace.startSleeper(marker)
        let before = cgroupLines(target)
        let suite = try workspace.write(suite: Self.suite(marker: marker, hold: "5m"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path, "--no-guardian"], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(cgroupLines(target).contains("/ebb-\(id)-"))
        let recovery = try EbbRun.run(["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(cgroupLines(target) == before)
        #expect(!ebbGroups().contains { $0.contains(id) })
        // Idempotent: a second execution finds nothing to do.
        let again = try EbbRun.run(["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
    }
}
