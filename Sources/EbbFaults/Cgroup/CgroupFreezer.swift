import EbbCore
import Foundation

/// The cgroup freezer in whichever form the machine has: cgroup v2 (`cgroup.freeze`, at
/// /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) or the v1 `freezer` controller.
/// Ebb freezes a group of its own, `ebb-<run id>-<seq>`, created under the hierarchy's root,
/// and moves the targets into it, so nothing it did not create is ever frozen or thawed.
struct CgroupFreezer: Codable, Sendable, Equatable {
    enum Version: String, Codable, Sendable {
        case v1, v2
    }

    var version: Version
    /// The hierarchy's mount point.
    var root: String

    /// The hierarchy to use here, v2 first; nil when neither is mounted.
    static func detect() -> CgroupFreezer? {
        let manager = FileManager.default
        for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] where manager.fileExists(atPath: "\(root)/cgroup.controllers") {
            return CgroupFreezer(version: .v2, root: root)
        }
        if manager.fileExists(atPath: "/sys/fs/cgroup/freezer/freezer.state") || manager.fileExists(atPath: "/sys/fs/cgroup/freezer/tasks") {
            return CgroupFreezer(version: .v1, root: "/sys/fs/cgroup/freezer")
        }
        return nil
    }

    func path(_ group: String) -> String { group == "/" ? root : root + group }

    /// The cgroup of `pid` in this hierarchy, as a path from its root (`/`, `/system.slice/x`).
    func cgroup(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let matches = version == .v2 ? fields[0] == "0" && fields[1].isEmpty : fields[1].split(separator: ",").contains("freezer")
            if matches { return String(fields[2]) }
        }
        return nil
    }

    func create(_ group: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path(group), withIntermediateDirectories: false)
        } catch {
            throw FaultError(description: "cannot create cgroup \(path(group)) (process.freeze needs root): \(error.localizedDescription)")
        }
    }

    func move(_ pid: Int32, to group: String) throws {
        try write("\(pid)", to: "\(path(group))/cgroup.procs")
    }

    func setFrozen(_ frozen: Bool, _ group: String) throws {
        switch version {
        case .v2: try write(frozen ? "1" : "0", to: "\(path(group))/cgroup.freeze")
        case .v1: try write(frozen ? "FROZEN" : "THAWED", to: "\(path(group))/freezer.state")
        }
    }

    /// Whether the kernel reports the group as (completely) frozen.
    func isFrozen(_ group: String) -> Bool {
        switch version {
        case .v2:
            let events = (try? String(contentsOfFile: "\(path(group))/cgroup.events", encoding: .utf8)) ?? ""
            return events.split(separator: "\n").contains("frozen 1")
        case .v1:
            return (try? String(contentsOfFile: "\(path(group))/freezer.state", encoding: .utf8))?.hasPrefix("FROZEN") == true
        }
    }

    func exists(_ group: String) -> Bool { FileManager.default.fileExists(atPath: path(group)) }

    /// Pids still in `group`.
    func members(_ group: String) -> [Int32] {
        let text = (try? String(contentsOfFile: "\(path(group))/cgroup.procs", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    func remove(_ group: String) throws {
        // The kernel lets go of a group a moment after its last process left.
        guard Poll.until(timeout: .seconds(2), { rmdir(path(group)) == 0 || errno == ENOENT }) else {
            throw VerificationFailure("cannot remove cgroup \(path(group)): \(String(cString: strerror(errno)))")
        }
    }

    private func write(_ text: String, to file: String) throws {
        do {
            try text.write(toFile: file, atomically: false, encoding: .utf8)
        } catch {
            throw FaultError(description: "write '\(text)' to \(file): \(error.localizedDescription)")
        }
    }
}
