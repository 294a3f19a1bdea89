import EbbCore
import Foundation

/// A process that a fault moved into its cgroup, and where it came from.
struct CgroupTarget: Codable, Sendable {
    var process: RecordedProcess
    /// The cgroup the process was in before, relative to the hierarchy's root.
    var cgroup: String
}

/// One cgroup hierarchy that a fault acts through: cgroup v2 (at /sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid hosts) or the v1 hierarchy of one controller. Ebb works in a
/// group of its own, `/ebb-<run id>-<seq>` under the hierarchy's root, and moves the targets
/// into it, so nothing it did not create is ever frozen, thawed or throttled.
struct CgroupHierarchy: Codable, Sendable, Equatable {
    enum Version: String, Codable, Sendable {
        case v1, v2
    }

    var version: Version
    /// The hierarchy's mount point.
    var root: String
    /// The v1 controller the hierarchy was mounted for; nil in records from before throttling,
    /// which were all `freezer`.
    var controller: String?

    /// Where to freeze: v2 first (every v2 group has `cgroup.freeze`), else the v1 freezer.
    static func freezer() -> CgroupHierarchy? {
        let manager = FileManager.default
        for root in v2Roots where manager.fileExists(atPath: "\(root)/cgroup.controllers") {
            return CgroupHierarchy(version: .v2, root: root, controller: nil)
        }
        return v1Mount(of: "freezer").map { CgroupHierarchy(version: .v1, root: $0, controller: "freezer") }
    }

    /// Where to cap CPU: a v2 hierarchy whose root hands the `cpu` controller to its children,
    /// else the v1 `cpu` controller (hybrid hosts like this one have cpu only in v1).
    static func cpu() -> CgroupHierarchy? {
        for root in v2Roots {
            let enabled = (try? String(contentsOfFile: "\(root)/cgroup.subtree_control", encoding: .utf8)) ?? ""
            if enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("cpu") {
                return CgroupHierarchy(version: .v2, root: root, controller: nil)
            }
        }
        return v1Mount(of: "cpu").map { CgroupHierarchy(version: .v1, root: $0, controller: "cpu") }
    }

    private static let v2Roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]

    /// The mount point of the v1 hierarchy that carries `controller`, from /proc/self/mountinfo.
    private static func v1Mount(of controller: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let mount = halves[0].split(separator: " "), filesystem = halves[1].split(separator: " ")
            guard mount.count >= 5, filesystem.count >= 3, filesystem[0] == "cgroup" else { continue }
            if filesystem[2].split(separator: ",").contains(Substring(controller)) { return String(mount[4]) }
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
            let matches =
                version == .v2
                ? fields[0] == "0" && fields[1].isEmpty
                : fields[1].split(separator: ",").contains(Substring(controller ?? "freezer"))
            if matches { return String(fields[2]) }
        }
        return nil
    }

    func create(_ group: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path(group), withIntermediateDirectories: false)
        } catch {
            throw FaultError(
                description: "cannot create cgroup \(path(group)) (needs root): \(error.localizedDescription)")
        }
    }

    func move(_ pid: Int32, to group: String) throws {
        try write("\(pid)", to: "\(path(group))/cgroup.procs")
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
            throw VerificationFailure(systemError("cannot remove cgroup", path(group)).description)
        }
    }

    /// The targets of `group` with their cgroups here, read before anything moves.
    func targets(_ snapshots: [ProcessSnapshot]) throws -> [CgroupTarget] {
        try snapshots.map { snapshot in
            guard let original = cgroup(of: snapshot.pid) else {
                throw FaultError(description: "cannot read the cgroup of pid \(snapshot.pid)")
            }
            return CgroupTarget(process: RecordedProcess(snapshot), cgroup: original)
        }
    }

    /// Moves every process in `group` back where the targets came from, then removes the group.
    func release(_ group: String, to targets: [CgroupTarget]) throws {
        for target in targets where target.process.isRunning && cgroup(of: target.process.pid) == group {
            // Back where it was; if that cgroup is gone meanwhile, to the hierarchy's root.
            try move(target.process.pid, to: exists(target.cgroup) ? target.cgroup : "/")
        }
        // Anything else in the group (a target's child forked in the meantime) goes with the first target.
        for pid in members(group) {
            try move(pid, to: targets.first.map(\.cgroup).flatMap { exists($0) ? $0 : nil } ?? "/")
        }
        try remove(group)
    }

    /// Throws unless `group` is gone and no living target is still in it.
    func verifyReleased(_ group: String, _ targets: [CgroupTarget]) throws {
        guard !exists(group) else { throw VerificationFailure("cgroup \(path(group)) still exists") }
        for target in targets where target.process.isRunning && cgroup(of: target.process.pid) == group {
            throw VerificationFailure("\(target.process.label) is still in \(path(group))")
        }
    }

    func write(_ text: String, to file: String) throws {
        do {
            try text.write(toFile: file, atomically: false, encoding: .utf8)
        } catch {
            throw FaultError(description: "write '\(text)' to \(file): \(error.localizedDescription)")
        }
    }
}

extension CgroupHierarchy {
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
            return (try? String(contentsOfFile: "\(path(group))/freezer.state", encoding: .utf8))?.hasPrefix("FROZEN")
                == true
        }
    }
}
