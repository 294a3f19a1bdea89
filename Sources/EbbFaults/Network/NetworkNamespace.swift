import EbbCore
import Foundation

/// Where a network fault acts: the host's network namespace, or one named under /run/netns
/// (`ip netns add NAME`). Every command a network fault runs goes through here, so `netns:`
/// means the same for nft, tc, iptables and the delay worker.
struct NetworkNamespace: Codable, Sendable, Equatable {
    /// nil for the host's namespace.
    var name: String?

    static let parameter = ParameterSpec(
        "netns", .string, "a network namespace from `ip netns` to act in (default: the host's)")

    init(name: String?) { self.name = name }

    init(_ parameters: FaultParameters) throws {
        name = try parameters.string("netns")
        if let name,
            name.isEmpty || name.count > 64
                || name.contains(where: { !($0.isLetter || $0.isNumber || "-_.".contains($0)) }) || name.hasPrefix(".")
        {
            throw parameters.error(
                "netns", "'\(name)' is not a network namespace name (letters, digits, '-', '_', '.')")
        }
    }

    /// For messages: `netns sandbox` or `the host`.
    var label: String { name.map { "netns \($0)" } ?? "the host" }

    /// Fails unless the namespace exists; the suite's setup may create it, so this is checked
    /// when the fault is planned, not when the suite is read.
    func requireExists() throws {
        guard let name else { return }
        guard FileManager.default.fileExists(atPath: "/run/netns/\(name)") else {
            throw FaultError(description: "network namespace '\(name)' does not exist (ip netns list)")
        }
    }

    /// `ip netns exec NAME`, or nothing for the host: what runs a program inside the namespace.
    var commandPrefix: [String] { name.map { [SystemTool.path("ip"), "netns", "exec", $0] } ?? [] }

    /// A system tool's command line, to run inside this namespace.
    func command(_ arguments: [String]) -> [String] {
        commandPrefix + [SystemTool.path(arguments[0])] + arguments.dropFirst()
    }

    /// Runs a tool inside the namespace; returns its output, or throws with that output.
    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        try SystemTool.requireInstalled(arguments[0])
        let result = try ChildProcess.run(command(arguments), timeout: .seconds(20))
        guard result.status == 0 else {
            let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            throw FaultError(
                description:
                    "`\(arguments.joined(separator: " "))` in \(label) failed (exit \(result.status)): \(output)")
        }
        return result.output
    }

    /// Runs a read-only query: its output, or nil when the tool says the object does not exist.
    /// Any other failure (no permission, a timeout, a missing tool) throws: an undo or a
    /// verification must never read "could not look" as "gone".
    func query(_ arguments: [String]) throws -> String? {
        try SystemTool.requireInstalled(arguments[0])
        let result = try ChildProcess.run(command(arguments), timeout: .seconds(20))
        if result.status == 0 { return result.output }
        let absent = ["No such file or directory", "does not exist", "Cannot find device"]
        if absent.contains(where: result.output.contains) { return nil }
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        throw FaultError(
            description: "`\(arguments.joined(separator: " "))` in \(label) failed (exit \(result.status)): \(output)")
    }

    /// Whether the namespace is gone (the host's never is): then so is everything that was in it.
    var isGone: Bool {
        guard let name else { return false }
        return !FileManager.default.fileExists(atPath: "/run/netns/\(name)")
    }
}
