import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A scratch folder with a suite and the files and processes it targets, plus the checks that
/// everything is as it was. Removed at the end, with every process it started ended by pid.
final class Workspace {
    let url: URL
    var files: URL { url.appendingPathComponent("files") }
    var state: URL { url.appendingPathComponent("state") }
    private(set) var started: [Int32] = []
    let originals: [String: String] = [
        "a.txt": "alpha original\n", "b.txt": "bravo original\n", "c.txt": "charlie original\n",
        "d.txt": "delta original\n",
    ]

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ebb-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        for (name, text) in originals {
            try text.write(to: files.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    func write(suite: String, name: String = "suite.yaml") throws -> String {
        let path = url.appendingPathComponent(name).path
        try suite.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes a suite of one 10 ms scenario, `quick`, with the one `fault` given (a line of
    /// YAML such as `file.corrupt: { path: files/a.txt }`); returns its path.
    func write(quickSuiteWith fault: String, name: String = "suite.yaml") throws -> String {
        try write(
            suite: """
                allowed_roots: [files]
                scenarios:
                  - name: quick
                    duration: 10ms
                    faults:
                      - \(fault)
                """, name: name)
    }

    /// Starts `sleep <seconds>` (a unique duration, so `match` finds exactly it) in its own process group.
    func startSleeper(_ seconds: String) throws -> Int32 {
        let pid = try ChildProcess.spawn(["sleep", seconds])
        started.append(pid)
        return pid
    }

    func sleepers(_ seconds: String) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.filter { pid in
            guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } == ["sleep", seconds]
                && processState(pid) != "Z"
        }
    }

    func adopt(_ pid: Int32) { started.append(pid) }

    func processState(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(close, offsetBy: 2)]
    }

    /// Processes whose environment carries a fixture marker of run `runID`.
    func fixtureProcesses(ofRun runID: String) -> [Int32] {
        processes(carrying: "EBB_FIXTURE", ofRun: runID)
    }

    /// Processes whose environment carries marker `key` (`EBB_FIXTURE`, `EBB_HOG`) of run `runID`.
    func processes(carrying key: String, ofRun runID: String) -> [Int32] {
        let needle = Data("\(key)=\(runID)/".utf8)
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.filter { pid in
            guard processState(pid) != "Z",
                let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
            else { return false }
            return environ.split(separator: 0).contains { $0.starts(with: needle) }
        }
    }

    func content(_ name: String) -> String? {
        try? String(contentsOf: files.appendingPathComponent(name), encoding: .utf8)
    }

    /// Every original file holds its original content and nothing else is in the folder.
    func filesAreAsTheyWere() -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: files.path)) ?? []
        return names.sorted() == originals.keys.sorted() && originals.allSatisfy { content($0.key) == $0.value }
    }

    /// The ids of the runs in the journal.
    func runIDs() -> [String] {
        let root = state.appendingPathComponent("rollback").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted().compactMap {
            $0.split(separator: "-").last.map(String.init)
        }
    }

    func runDirectory(_ id: String) throws -> URL {
        let root = state.appendingPathComponent("rollback")
        let name = try unwrap(
            try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasSuffix("-\(id)") })
        return root.appendingPathComponent(name)
    }

    /// Waits for the guardians of this workspace's runs to exit: one still replaying or writing
    /// reports would otherwise recreate files in the folder after it is removed.
    func waitForGuardians(timeout: Duration = .seconds(20)) {
        let runs = (try? JournalReader(stateDirectory: state).runs()) ?? []
        let clock = ContinuousClock()
        let end = clock.now + timeout
        for pid in runs.compactMap(\.info?.guardianPID) {
            while clock.now < end, let process = ProcessTable.snapshot(pid), !process.isGone,
                process.commandLine.contains("guardian")
            {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }

    deinit {
        waitForGuardians()
        for pid in started {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            ChildProcess.reap(pid)
        }
        try? FileManager.default.removeItem(at: url)
    }
}

struct Missing: Error {}

func unwrap<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}

/// The machine's network namespaces whose names start with `prefix`: only a suite's own, since
/// other suites build theirs in parallel.
func networkNamespaces(prefixed prefix: String) throws -> [Substring] {
    try ChildProcess.run(["ip", "netns", "list"], timeout: .seconds(10)).output.split(separator: "\n").filter {
        $0.hasPrefix(prefix)
    }
}

extension Workspace {
    /// A workspace a suite keeps in a `static let` lasts as long as the test process, and
    /// statics are never released, so its `deinit` never removes it: it is removed when the
    /// process exits instead.
    func removedAtExit() -> Workspace {
        ProcessLongWorkspaces.add(url)
        return self
    }
}

/// The folders of the workspaces that last the whole test process, removed by one `atexit` handler.
private enum ProcessLongWorkspaces {
    nonisolated(unsafe) private static var folders: [URL] = []
    private static let lock = NSLock()
    private static let handler: Void = { atexit { ProcessLongWorkspaces.removeAll() } }()

    static func add(_ folder: URL) {
        _ = handler
        lock.withLock { folders.append(folder) }
    }

    private static func removeAll() {
        for folder in lock.withLock({ folders }) { try? FileManager.default.removeItem(at: folder) }
    }
}
