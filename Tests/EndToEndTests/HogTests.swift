import EbbCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `hog.*` faults load the machine from worker processes that Ebb finds by their marker, and
/// that end themselves at the fault's deadline even when Ebb is gone.
@Suite(.serialized) struct HogTests {
    static func suite(hold: String) -> String {
        """
        suite: hogs
        allowed_roots: [files]
        scenarios:
          - name: load
            duration: \(hold)
            faults:
              - hog.cpu: { workers: 1 }
              - hog.memory: { size: 64M }
              - hog.io: { path: files }
        """
    }

    func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    func hogFiles(_ workspace: Workspace) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: workspace.files.path)) ?? []).filter { $0.hasPrefix(".ebb-hog-") }
    }

    @Test func theHogsLoadWhileHeldAndAreGoneAfterRollback() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "3s"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        let workers = workspace.processes(carrying: "EBB_HOG", ofRun: id)
        #expect(workers.count == 3)
        #expect(eventually(timeout: .seconds(30)) { workers.contains { residentKiB($0) >= 60 * 1024 } }, "no worker holds 64 MiB")
        let before = workers.map(cpuTicks)
        #expect(eventually(timeout: .seconds(30)) { zip(workers.map(cpuTicks), before).contains { $0 - $1 >= 20 } }, "no worker burns CPU")
        #expect(eventually(timeout: .seconds(30)) { !hogFiles(workspace).isEmpty }, "the I/O hog wrote nothing")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty)
        #expect(hogFiles(workspace).isEmpty)
    }

    @Test func workersEndThemselvesAtTheDeadlineWhenEbbIsGone() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "1s"))
        // No guardian and a short grace: only the workers' own deadline can stop them.
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path, "--no-guardian", "--deadline-grace", "1s"], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).count == 3)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(eventually(timeout: .seconds(30)) { workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty }, "workers outlived their deadline")
        #expect(eventually(timeout: .seconds(30)) { hogFiles(workspace).isEmpty }, "the I/O hog left its files")
        // The undo is idempotent: recovery finds nothing left to do and verifies.
        let recovery = try EbbRun.run(["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
    }

    @Test func rollbackExecuteStopsWorkersOfAKilledRun() throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "5m"))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path, "--no-guardian"], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).count == 3)
        let recovery = try EbbRun.run(["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty)
        #expect(hogFiles(workspace).isEmpty)
    }
}
