import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hog.*` faults load the machine from worker processes that Ebb finds by their marker, and
/// that end themselves at the fault's deadline even when Ebb is gone.
/// Each test runs with Ebb's own worker and, where it is installed (CI installs it), stress-ng.
@Suite(.serialized, .ownThread) struct HogTests {
    static let engines =
        ["builtin"] + (FileManager.default.isExecutableFile(atPath: "/usr/bin/stress-ng") ? ["stress-ng"] : [])

    static func suite(hold: String, engine: String) -> String {
        """
        suite: hogs
        allowed_roots: [files]
        scenarios:
          - name: load
            duration: \(hold)
            faults:
              - hog.cpu: { workers: 1, engine: \(engine) }
              - hog.memory: { size: 64M, engine: \(engine) }
              - hog.io: { path: files, engine: \(engine) }
        """
    }

    func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    func hogFiles(_ workspace: Workspace) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: workspace.files.path)) ?? []).filter {
            $0.hasPrefix(".ebb-hog-")
        }
    }

    /// One worker per hog for Ebb's own; stress-ng adds a process per stressor.
    func expectWorkers(_ workers: [Int32], _ engine: String) {
        #expect(engine == "builtin" ? workers.count == 3 : workers.count >= 3, "workers: \(workers)")
    }

    @Test(arguments: engines) func theHogsLoadWhileHeldAndAreGoneAfterRollback(engine: String) throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "10s", engine: engine))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        let workers = { workspace.processes(carrying: "EBB_HOG", ofRun: id) }
        expectWorkers(workers(), engine)
        // stress-ng starts its stressors as children a moment later: look again on every poll.
        #expect(
            eventually(timeout: .seconds(30)) { workers().contains { residentKiB($0) >= 60 * 1024 } },
            "no worker holds 64 MiB")
        var first: [Int32: Int] = [:]
        #expect(
            eventually(timeout: .seconds(30)) {
                workers().contains { pid in
                    let ticks = cpuTicks(pid)
                    if first[pid] == nil { first[pid] = ticks }
                    return ticks - first[pid]! >= 20
                }
            }, "no worker burns CPU")
        #expect(eventually(timeout: .seconds(30)) { !hogFiles(workspace).isEmpty }, "the I/O hog wrote nothing")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty)
        #expect(hogFiles(workspace).isEmpty)
    }

    @Test(arguments: engines) func workersEndThemselvesAtTheDeadlineWhenEbbIsGone(engine: String) throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "1s", engine: engine))
        // No guardian and a short grace: only the workers' own deadline can stop them.
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path, "--no-guardian", "--deadline-grace", "1s"],
            in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        expectWorkers(workspace.processes(carrying: "EBB_HOG", ofRun: id), engine)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(
            eventually(timeout: .seconds(30)) { workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty },
            "workers outlived their deadline")
        #expect(eventually(timeout: .seconds(30)) { hogFiles(workspace).isEmpty }, "the I/O hog left its files")
        // The undo is idempotent: recovery finds nothing left to do and verifies.
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
    }

    @Test(arguments: engines) func rollbackExecuteStopsWorkersOfAKilledRun(engine: String) throws {
        let workspace = try Workspace()
        let suite = try workspace.write(suite: Self.suite(hold: "5m", engine: engine))
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path, "--no-guardian"], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        expectWorkers(workspace.processes(carrying: "EBB_HOG", ofRun: id), engine)
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(workspace.processes(carrying: "EBB_HOG", ofRun: id).isEmpty)
        #expect(hogFiles(workspace).isEmpty)
    }
}
