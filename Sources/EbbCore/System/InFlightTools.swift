import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Commands a runner runs to completion (tc, nft, iptables, a `command` fault's inject, a
/// probe) carry `EBB_ACTING_FOR=<run id>` in their environment. When the runner dies, such a
/// command can still be acting: a `tc qdisc add` or a slow inject script finishing after the
/// guardian or a sweep took the fault back would put it back for good. So before executing a
/// dead run's records, recovery waits for the run's commands to end, and ends those that take
/// too long (each leads its own process group). Long-lived children (fixtures, workers) are
/// started without the mark: they are stopped by their own records.
public enum InFlightTools {
    public static let environmentKey = "EBB_ACTING_FOR"

    private static let markedRun = Mutex<String?>(nil)

    /// Marks every command this process runs from now on as acting for `runID`.
    public static func markCommands(actingFor runID: String) {
        markedRun.withLock { $0 = runID }
    }

    /// The environment entry for a command this process runs, if it is a runner.
    public static var environment: [String: String] {
        markedRun.withLock { run in run.map { [environmentKey: $0] } ?? [:] }
    }

    /// Waits up to `patience` for the commands acting for `runID` to end, then SIGKILLs the
    /// process group of each one left and waits for it to go, until no process carries the
    /// mark (at most three rounds). Returns the commands it had to end.
    /// (A pid is acted on only while its start time still matches: never a reused pid.)
    @discardableResult
    public static func settle(runID: String, patience: Duration = .seconds(5)) -> [ProcessSnapshot] {
        let clock = ContinuousClock()
        let end = clock.now + patience
        var acting = ProcessTable.carrying(environmentKey, runID)
        while !acting.isEmpty && clock.now < end {
            Thread.sleep(forTimeInterval: 0.02)
            acting = acting.filter { ProcessTable.isAlive(pid: $0.pid, startTime: $0.startTime) }
        }
        var ended: [ProcessSnapshot] = []
        // Look again after each round: a script may have started its next command after the
        // first look (it was in the group just ended, but may still be exiting), and recovery
        // must not undo while anything of the run can still act.
        for _ in 0..<3 where !acting.isEmpty {
            for command in acting {
                kill(command.processGroup == command.pid ? -command.pid : command.pid, SIGKILL)
                _ = ChildProcess.waitUntilGone(command.pid, startTime: command.startTime, timeout: .seconds(2))
            }
            ended += acting
            acting = ProcessTable.carrying(environmentKey, runID)
        }
        return ended
    }
}
