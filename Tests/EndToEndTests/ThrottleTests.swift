import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `process.throttle` against a real busy process and the machine's CPU controller (v1 here,
/// v2 where the root enables cpu). Creating cgroups needs root: CI runs as root; elsewhere these
/// tests are skipped, saying why.
@Suite(.serialized, .ownThread, .enabled(if: getuid() == 0, "process.throttle creates cgroups, which needs root"))
struct ThrottleTests {
    /// A shell spinning on one core; its argument makes its command line unique to the test.
    func startSpinner(_ workspace: Workspace, _ marker: String) throws -> Int32 {
        let pid = try ChildProcess.spawn(["sh", "-c", "while :; do :; done", marker])
        workspace.adopt(pid)
        return pid
    }

    /// CPU time (user + system) of `pid` in clock ticks.
    func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// The share of one core `pid` used over `window`.
    func cpuShare(_ pid: Int32, over window: Duration) -> Double {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let start = cpuTicks(pid)
        Thread.sleep(forTimeInterval: window.seconds)
        return Double(cpuTicks(pid) - start) / ticksPerSecond / window.seconds
    }

    /// How often the kernel throttled the group: `nr_throttled` in cpu.stat (v1 and v2 alike).
    func throttledPeriods(_ group: String) -> Int {
        let stat = (try? String(contentsOfFile: "\(group)/cpu.stat", encoding: .utf8)) ?? ""
        let line = stat.split(separator: "\n").first { $0.hasPrefix("nr_throttled ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    /// The group's CPU cap as "quota period" in microseconds (v2 `cpu.max`, v1 the two cfs files).
    func quota(_ group: String) -> String? {
        func read(_ name: String) -> String? {
            (try? String(contentsOfFile: "\(group)/\(name)", encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        if let max = read("cpu.max") { return max }
        guard let quota = read("cpu.cfs_quota_us"), let period = read("cpu.cfs_period_us") else { return nil }
        return "\(quota) \(period)"
    }

    func suite(pid: Int32, duration: String) -> String {
        """
        suite: throttle
        scenarios:
          - name: throttle
            duration: \(duration)
            faults:
              - process.throttle: { pid: \(pid), percent: 20 }
        """
    }

    @Test func theTargetGetsNoMoreThanItsShareAndIsPutBackAfter() throws {
        let workspace = try Workspace()
        defer { CgroupCleanup.removeGroups(of: workspace) }
        let spinner = try startSpinner(workspace, "throttle-\(Int.random(in: 100_000...999_999))")
        let before = CgroupCleanup.lines(spinner)
        let run = try EbbRun(
            [
                "run", try workspace.write(suite: suite(pid: spinner, duration: "8s")), "--state-dir",
                workspace.state.path,
            ],
            in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        let group = try #require(CgroupCleanup.ebbGroups().first { $0.contains(id) })
        #expect(quota(group) == "20000 100000", "the cap of \(group)")
        let share = cpuShare(spinner, over: .seconds(2))
        // The quota is 20 ms per 100 ms period; a tick is 10 ms, so allow one period's rounding.
        #expect(share <= 0.25, "the spinner used \(share) of a core under a 20% cap")
        // The kernel throttles the group in a period where the spinner got its whole quota; on
        // a machine busy with other tests that can take a while, so wait for it (within the hold).
        let throttled = eventually(timeout: .seconds(5)) { throttledPeriods(group) > 0 }
        #expect(throttled, "the kernel never throttled \(group)")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(CgroupCleanup.lines(spinner) == before)
        #expect(!CgroupCleanup.ebbGroups().contains { $0.contains(id) })
    }

    @Test func rollbackExecuteLiftsTheCapAfterTheRunnerIsKilled() throws {
        let workspace = try Workspace()
        defer { CgroupCleanup.removeGroups(of: workspace) }
        let spinner = try startSpinner(workspace, "throttle-\(Int.random(in: 100_000...999_999))")
        let before = CgroupCleanup.lines(spinner)
        let run = try EbbRun(
            [
                "run", try workspace.write(suite: suite(pid: spinner, duration: "5m")), "--state-dir",
                workspace.state.path,
                "--no-guardian",
            ], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(CgroupCleanup.lines(spinner).contains("/ebb-\(id)-"))
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(CgroupCleanup.lines(spinner) == before)
        #expect(!CgroupCleanup.ebbGroups().contains { $0.contains(id) })
    }
}
