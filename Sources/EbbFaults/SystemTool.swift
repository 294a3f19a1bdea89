import EbbCore
import Foundation

/// The system tools faults drive (nft, tc, iptables, stress-ng), looked up in the sbin
/// directories that a non-login root shell (CI) often lacks in PATH.
enum SystemTool {
    static let packages = [
        "nft": "nftables", "tc": "iproute2", "ip": "iproute2", "iptables": "iptables", "ip6tables": "iptables",
        "stress-ng": "stress-ng",
    ]

    static func path(_ tool: String) -> String {
        for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(directory)/\(tool)") {
            return "\(directory)/\(tool)"
        }
        return ChildProcess.resolve(tool)
    }

    static func isInstalled(_ tool: String) -> Bool { FileManager.default.isExecutableFile(atPath: path(tool)) }

    static func requireInstalled(_ tool: String) throws {
        guard isInstalled(tool) else {
            throw FaultError(description: "\(tool) is not installed (Debian package \(packages[tool] ?? tool))")
        }
    }
}
