import EbbCore
import Foundation

/// Whether this kernel has the netem qdisc. Asked at most once per process, and only when a
/// fault wants netem, by adding one to the loopback of a throwaway network namespace, so that
/// the probe touches no interface anyone uses.
enum NetemSupport {
    enum Answer: Sendable, Equatable {
        case available
        /// tc answered that the kind is unknown: the kernel was built without sch_netem.
        case absent
        /// The probe itself failed (not root, no iproute2, no /run/netns): nothing is known.
        case unknown(String)
    }

    static let answer: Answer = {
        let name = "ebb-netem-probe-\(getpid())-\(UInt16.random(in: .min ... .max))"
        let ip = SystemTool.path("ip")
        do {
            let added = try ChildProcess.run([ip, "netns", "add", name], timeout: .seconds(10))
            guard added.status == 0 else {
                return .unknown("ip netns add: \(added.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            defer { _ = try? ChildProcess.run([ip, "netns", "delete", name], timeout: .seconds(10)) }
            let probe = NetworkNamespace(name: name)
            _ = try ChildProcess.run(probe.command(["ip", "link", "set", "lo", "up"]), timeout: .seconds(10))
            let result = try ChildProcess.run(
                probe.command(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]),
                timeout: .seconds(10))
            if result.status == 0 { return .available }
            if result.output.contains("qdisc kind is unknown") { return .absent }
            return .unknown("tc: \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        } catch {
            return .unknown("\(error)")
        }
    }()
}
