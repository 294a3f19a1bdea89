import EbbCore
import Foundation

/// Whether this kernel has the netem qdisc. Asked once per process, in a throwaway network
/// namespace, so that the probe touches no interface anyone uses.
enum NetemSupport {
    static let isAvailable: Bool = {
        guard SystemTool.isInstalled("tc"), SystemTool.isInstalled("ip") else { return false }
        let probe = NetworkNamespace(name: "ebb-netem-probe-\(getpid())")
        guard (try? ChildProcess.run([SystemTool.path("ip"), "netns", "add", probe.name!], timeout: .seconds(10)))?.status == 0 else {
            return false
        }
        defer { _ = try? ChildProcess.run([SystemTool.path("ip"), "netns", "delete", probe.name!], timeout: .seconds(10)) }
        _ = probe.succeeds(["ip", "link", "set", "lo", "up"])
        return probe.succeeds(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
    }()
}
