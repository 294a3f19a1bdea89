import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What /proc says about one process; the start time guards against pid reuse.
public struct ProcessSnapshot: Sendable, Equatable {
    public var pid: Int32
    /// The one-letter state from /proc/PID/stat: `R`, `S`, `T` (stopped), `Z` (zombie), ...
    public var state: Character
    /// Clock ticks since boot at which the process started; with the pid, a unique identity.
    public var startTime: UInt64
    public var processGroup: Int32
    public var parent: Int32
    public var commandLine: [String]

    public var isStopped: Bool { state == "T" || state == "t" }
    public var isGone: Bool { state == "Z" || state == "X" }
    public var displayName: String { commandLine.first.map { ($0 as NSString).lastPathComponent } ?? "?" }
}

/// The fields of /proc/PID/stat Ebb uses, without the command line: what liveness and state
/// checks need, read with one small file read (they run for every record of a big rollback).
public struct ProcessStat: Sendable, Equatable {
    /// The one-letter state: `R`, `S`, `T` (stopped), `Z` (zombie), ...
    public var state: Character
    public var startTime: UInt64
    public var processGroup: Int32
    public var parent: Int32
    /// The kernel's `PF_*` flags (field 9).
    public var flags: UInt64

    public var isStopped: Bool { state == "T" || state == "t" }
    public var isGone: Bool { state == "Z" || state == "X" }
}

/// Reads processes from /proc.
public enum ProcessTable {
    /// Live processes whose environment holds `key=value`: the marker by which a run proves
    /// that a process is its own (fixtures, hog workers), whatever their pids became.
    public static func carrying(_ key: String, _ value: String) -> [ProcessSnapshot] {
        let needle = Data("\(key)=\(value)".utf8)
        return allPIDs.compactMap { pid -> ProcessSnapshot? in
            guard let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")),
                environ.split(separator: 0).contains(where: { $0.elementsEqual(needle) }),
                let process = snapshot(pid), !process.isGone
            else { return nil }
            return process
        }
    }

    /// The process `pid`, or nil when it does not exist.
    public static func snapshot(_ pid: Int32) -> ProcessSnapshot? {
        guard let stat = stat(pid) else { return nil }
        let raw = read("/proc/\(pid)/cmdline") ?? []
        let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return ProcessSnapshot(
            pid: pid, state: stat.state, startTime: stat.startTime, processGroup: stat.processGroup,
            parent: stat.parent, commandLine: arguments)
    }

    /// The state, start time, group and parent of `pid`, or nil when it does not exist.
    public static func stat(_ pid: Int32) -> ProcessStat? {
        guard let bytes = read("/proc/\(pid)/stat"), let close = bytes.lastIndex(of: UInt8(ascii: ")")) else {
            return nil
        }
        // Fields after the command name (which may hold spaces and parentheses): state is field 3.
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        func field(_ index: Int) -> String { String(decoding: fields[index], as: UTF8.self) }
        guard fields.count > 19, let state = field(0).first, let parent = Int32(field(1)),
            let group = Int32(field(2)), let flags = UInt64(field(6)), let start = UInt64(field(19))
        else { return nil }
        return ProcessStat(state: state, startTime: start, processGroup: group, parent: parent, flags: flags)
    }

    /// The same process as recorded: same pid and same start time, and not a zombie.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let now = stat(pid) else { return false }
        return now.startTime == startTime && !now.isGone
    }

    /// A whole /proc file (they report size 0, so it is read to its end). Plain reads, not
    /// Foundation's: a rollback of 1,000 paused processes reads thousands of them.
    private static func read(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Every pid in /proc right now.
    public static var allPIDs: [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
    }

    /// This process and its ancestors: never a fault's target, or the run would freeze or kill itself.
    public static var selfAndAncestors: Set<Int32> {
        var pids: Set<Int32> = []
        var pid = getpid()
        while pid > 1, pids.insert(pid).inserted, let process = stat(pid) { pid = process.parent }
        return pids
    }

    /// Every process whose command line contains `pattern`, except protected ones (this one,
    /// its ancestors, PID 1, kernel threads, Ebb's runners and guardians).
    public static func matching(_ pattern: String) -> [ProcessSnapshot] {
        matchingCountingProtected(pattern).processes
    }

    /// As `matching`, plus how many protected processes matched and were left out.
    public static func matchingCountingProtected(_ pattern: String) -> (processes: [ProcessSnapshot], excluded: Int) {
        let own = selfAndAncestors
        var excluded = 0
        let found = allPIDs.sorted().compactMap { pid -> ProcessSnapshot? in
            guard let process = snapshot(pid), !process.isGone,
                process.commandLine.joined(separator: " ").contains(pattern)
            else { return nil }
            // This process and its ancestors were never counted: they always match their own suite path.
            if own.contains(pid) { return nil }
            if ProtectedProcesses.reason(process, own: own) != nil {
                excluded += 1
                return nil
            }
            return process
        }
        return (found, excluded)
    }

    /// Clock ticks since boot right now: the unit of ``ProcessSnapshot/startTime``, so a process
    /// whose start time is at or above a value read earlier started after that moment.
    public static var ticksSinceBoot: UInt64 {
        let text = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8)) ?? ""
        let seconds = Double(text.split(separator: " ").first ?? "") ?? 0
        return UInt64(seconds * Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
