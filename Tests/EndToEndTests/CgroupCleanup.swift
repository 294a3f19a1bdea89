import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the cgroup tests inspect, and how they remove a group a failed test left behind.
enum CgroupCleanup {
    static let roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/cpu"]

    /// `/proc/<pid>/cgroup`: where the process is in every hierarchy.
    static func lines(_ pid: Int32) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
    }

    static func ebbGroups() -> [String] {
        roots.flatMap { root in
            ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("ebb-") }.map {
                "\(root)/\($0)"
            }
        }
    }

    /// Thaws the groups of the workspace's runs, moves their members to the root, removes them.
    static func removeGroups(of workspace: Workspace) {
        for id in workspace.runIDs() {
            for group in ebbGroups() where group.contains(id) {
                let root = (group as NSString).deletingLastPathComponent
                try? "0".write(toFile: "\(group)/cgroup.freeze", atomically: false, encoding: .utf8)
                try? "THAWED".write(toFile: "\(group)/freezer.state", atomically: false, encoding: .utf8)
                let members = (try? String(contentsOfFile: "\(group)/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in members.split(separator: "\n") {
                    try? String(pid).write(toFile: "\(root)/cgroup.procs", atomically: false, encoding: .utf8)
                }
                rmdir(group)
            }
        }
    }
}
