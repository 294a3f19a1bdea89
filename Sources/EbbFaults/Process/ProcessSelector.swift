import EbbCore
import Foundation

/// Which processes a process fault acts on: exactly one of `pid`, `pidfile`, `match` or `fixture`,
/// narrowed by `count` or widened by `all`.
struct ProcessSelector: Codable, Sendable {
    enum Source: Codable, Sendable {
        case pid(Int32)
        case pidfile(String)
        case match(String)
        case fixture(String)
    }
    var source: Source
    var count: Int
    var all: Bool

    static let parameters: [ParameterSpec] = [
        ParameterSpec("pid", .integer, "the target's process id"),
        ParameterSpec("pidfile", .string, "a file holding the target's pid (relative to the suite)"),
        ParameterSpec("match", .string, "a substring of the target's command line"),
        ParameterSpec("fixture", .string, "the name of a fixture from the suite's setup"),
        ParameterSpec("count", .integer, "with match: how many matching processes (default 1, oldest first)"),
        ParameterSpec("all", .boolean, "with match: every matching process"),
    ]

    init(_ parameters: FaultParameters, suite: SuiteContext) throws {
        let given = ["pid", "pidfile", "match", "fixture"].filter(parameters.contains)
        guard given.count == 1, let which = given.first else {
            throw parameters.error(given.last ?? "pid", "give exactly one of pid, pidfile, match or fixture")
        }
        switch which {
        case "pid":
            guard let pid = try parameters.integer("pid"), pid > 1, let value = Int32(exactly: pid) else {
                throw parameters.error("pid", "a target pid must be a positive process id other than 1")
            }
            source = .pid(value)
        case "pidfile": source = .pidfile(suite.resolve(try parameters.string("pidfile")!))
        case "match":
            let pattern = try parameters.string("match")!
            guard pattern.count >= 3 else {
                throw parameters.error(
                    "match", "a match pattern needs at least 3 characters, so it cannot hit half the machine")
            }
            source = .match(pattern)
        default:
            let name = try parameters.string("fixture")!
            if let host = suite.remoteFixtureHosts[name] {
                throw parameters.error(
                    "fixture",
                    "fixture '\(name)' runs on host \(host), and a fault can only target a fixture of the runner's machine; "
                        + "give the fault 'host: \(host)' and select its processes with 'match' instead")
            }
            guard suite.fixtureNames.contains(name) else {
                throw parameters.error(
                    "fixture",
                    "no fixture named '\(name)' in this suite's setup (have: \(suite.fixtureNames.joined(separator: ", ")))"
                )
            }
            source = .fixture(name)
        }
        count = try parameters.integer("count") ?? 1
        all = try parameters.boolean("all") ?? false
        if (parameters.contains("count") || parameters.contains("all")), which != "match" {
            throw parameters.error(parameters.contains("count") ? "count" : "all", "count and all only apply to match")
        }
        guard count >= 1 else { throw parameters.error("count", "count must be at least 1") }
    }

    /// The selector in words, for plans and errors.
    var description: String {
        switch source {
        case .pid(let pid): return "pid \(pid)"
        case .pidfile(let path): return "pidfile \(path)"
        case .match(let pattern): return "processes matching '\(pattern)'"
        case .fixture(let name): return "fixture \(name)"
        }
    }

    /// The running processes selected right now.
    func resolve(fixturePIDs: [String: Int32]) throws -> [ProcessSnapshot] {
        try resolveCountingProtected(fixturePIDs: fixturePIDs).processes
    }

    /// The running processes selected right now, and how many protected processes (PID 1,
    /// kernel threads, Ebb's runners and guardians) a `match` left out. A `pid`, `pidfile` or
    /// `fixture` naming a protected process is refused.
    func resolveCountingProtected(fixturePIDs: [String: Int32]) throws -> (processes: [ProcessSnapshot], excluded: Int)
    {
        var found: [ProcessSnapshot]
        var excluded = 0
        switch source {
        case .pid(let pid):
            found = ProcessTable.snapshot(pid).map { [$0] } ?? []
        case .pidfile(let path):
            found = try Self.readPidfile(path).flatMap(ProcessTable.snapshot).map { [$0] } ?? []
        case .match(let pattern):
            let matching = ProcessTable.matchingCountingProtected(pattern)
            excluded = matching.excluded
            let sorted = matching.processes.sorted { $0.startTime < $1.startTime }
            found = all ? sorted : Array(sorted.prefix(count))
        case .fixture(let name):
            guard let pid = fixturePIDs[name] else { throw FaultError(description: "fixture \(name) is not running") }
            found = ProcessTable.snapshot(pid).map { [$0] } ?? []
        }
        let own = ProcessTable.selfAndAncestors
        for process in found {
            if let reason = ProtectedProcesses.reason(process, own: own) {
                throw FaultError(description: "\(description) names pid \(process.pid), \(reason); Ebb never faults it")
            }
        }
        let alive = found.filter { !$0.isGone }
        guard !alive.isEmpty else {
            let note =
                excluded > 0
                ? " (excluded \(excluded) protected: Ebb's runners and guardians, PID 1, kernel threads)" : ""
            throw FaultError(description: "no running process for \(description)\(note)")
        }
        return (alive, excluded)
    }

    /// The pid a pidfile holds.
    static func readPidfile(_ path: String) throws -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FaultError(description: "cannot read pidfile \(path)")
        }
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw FaultError(description: "pidfile \(path) does not hold a pid")
        }
        return pid
    }

    /// What a preflight says about protected processes a `match` left out ("" when none).
    static func exclusionNote(_ excluded: Int) -> String {
        excluded == 0
            ? ""
            : " (excluded \(excluded) protected process\(excluded == 1 ? "" : "es"): Ebb's runners and guardians, PID 1, kernel threads)"
    }

    /// True when a process that this selector finds is running (used to verify restarts).
    /// The fixture this selector names when its pid cannot be known yet: a dry run starts no
    /// fixtures, so faults on them are planned by name only.
    func fixturePendingInDryRun(_ context: FaultContext) -> String? {
        if case .fixture(let name) = source, context.isDryRun { return name }
        return nil
    }

    func findsRunningProcess() -> Bool {
        !candidates().isEmpty
    }

    /// Every running process this selector could mean right now, protected ones left out,
    /// `count` ignored (used to find a restarted target among all matches).
    func candidates() -> [ProcessSnapshot] {
        let found: [ProcessSnapshot]
        switch source {
        case .pid(let pid): found = ProcessTable.snapshot(pid).map { [$0] } ?? []
        case .pidfile(let path):
            found = ((try? Self.readPidfile(path)) ?? nil).flatMap(ProcessTable.snapshot).map { [$0] } ?? []
        case .match(let pattern): found = ProcessTable.matching(pattern)
        case .fixture: found = []
        }
        let own = ProcessTable.selfAndAncestors
        return found.filter { !$0.isGone && ProtectedProcesses.reason($0, own: own) == nil }
    }
}

/// A process as recorded in an undo record: pid plus start time, so a reused pid is never signalled.
struct RecordedProcess: Codable, Sendable {
    var pid: Int32
    var startTime: UInt64
    var name: String

    init(_ snapshot: ProcessSnapshot) {
        pid = snapshot.pid
        startTime = snapshot.startTime
        name = snapshot.displayName
    }

    /// The same process is still running (not a zombie, pid not reused).
    var isRunning: Bool { ProcessTable.isAlive(pid: pid, startTime: startTime) }
    /// Whether the same process is in the stopped state now; nil once it is gone.
    var isStopped: Bool? {
        guard isRunning, let now = ProcessTable.stat(pid) else { return nil }
        return now.isStopped
    }
    var label: String { "pid \(pid) (\(name))" }
    /// The process's identity for ``TargetLocks``.
    var lockKey: String { "process-\(pid):\(startTime)" }
}
