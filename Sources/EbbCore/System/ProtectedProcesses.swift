import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Processes that no fault may ever target, whatever selects them: PID 1, kernel threads,
/// this ebb process and its ancestors, and Ebb's own runners, guardians and recoveries (of any
/// run). Faulting one of them would take down the machine, or the rollback itself.
public enum ProtectedProcesses {
    /// `PF_KTHREAD` in the flags field (9) of `/proc/<pid>/stat`.
    static let kernelThreadFlag: UInt64 = 0x0020_0000
    /// The `ebb` subcommands whose processes keep a run's rollback promise.
    static let ebbRoles: Set<String> = ["run", "guardian", "rollback"]

    /// Why `process` must never be a target, or nil when it may be.
    public static func reason(_ process: ProcessSnapshot, own: Set<Int32> = ProcessTable.selfAndAncestors) -> String? {
        if process.pid == 1 { return "PID 1 (init)" }
        if own.contains(process.pid) { return "this ebb process or one of its ancestors" }
        if isKernelThread(process.pid) { return "a kernel thread" }
        if let role = ebbRole(process) {
            return role == "guardian" ? "the guardian of an Ebb run" : "an Ebb process (ebb \(role))"
        }
        return nil
    }

    /// Kernel threads carry PF_KTHREAD; they also have no executable and an empty command line.
    public static func isKernelThread(_ pid: Int32) -> Bool {
        guard let stat = ProcessTable.stat(pid) else { return false }
        return stat.flags & kernelThreadFlag != 0
    }

    /// The subcommand of an ebb process running as a runner, guardian or recovery: its
    /// executable is an `ebb` binary (this one, or any file named ebb) and its first argument
    /// is the role. `ebb demo-target` and hog workers are ordinary targets.
    static func ebbRole(_ process: ProcessSnapshot) -> String? {
        guard process.commandLine.count >= 2, ebbRoles.contains(process.commandLine[1]) else { return nil }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/exe"))
            ?? process.commandLine[0]
        let name = (executable as NSString).lastPathComponent
        let isEbb =
            executable == ChildProcess.currentExecutable || name == "ebb"
            || (process.commandLine[0] as NSString).lastPathComponent == "ebb"
        return isEbb ? process.commandLine[1] : nil
    }
}
