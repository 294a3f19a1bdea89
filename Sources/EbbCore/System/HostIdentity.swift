import Foundation

/// Which machine a run was recorded on. A hostname alone is wrong both ways: every new
/// container or pod gets a new one, and two machines may share one. The machine id
/// (`/etc/machine-id`, else the kernel's boot id) together with the hostname names the
/// machine whose pids and paths a record refers to.
public struct HostIdentity: Codable, Sendable, Equatable {
    public var hostname: String
    /// `/etc/machine-id`, else `/proc/sys/kernel/random/boot_id`; nil where neither exists.
    public var machineID: String?

    public init(hostname: String, machineID: String?) {
        self.hostname = hostname
        self.machineID = machineID
    }

    /// This machine.
    public static var current: HostIdentity {
        HostIdentity(
            hostname: ProcessInfo.processInfo.hostName,
            machineID: firstLine(of: "/etc/machine-id") ?? firstLine(of: "/proc/sys/kernel/random/boot_id"))
    }

    /// Whether a run recorded as `recorded` (machine id nil in journals written before it was
    /// recorded) belongs to this machine.
    public func matches(_ recorded: HostIdentity) -> Bool {
        guard hostname == recorded.hostname else { return false }
        guard let mine = machineID, let theirs = recorded.machineID else { return true }
        return mine == theirs
    }

    public var description: String { machineID.map { "\(hostname) (machine \($0.prefix(12)))" } ?? hostname }

    private static func firstLine(of path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return line.isEmpty ? nil : line
    }
}
