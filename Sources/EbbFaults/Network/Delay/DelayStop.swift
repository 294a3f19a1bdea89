import EbbCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One iptables rule of a delay fault: in the `mangle` table, carrying the fault's comment, and
/// with `--queue-bypass`, so that packets flow normally whenever no delayer is bound.
struct QueueRule: Codable, Sendable, Equatable {
    /// `iptables` or `ip6tables`.
    var tool: String
    /// `OUTPUT` for egress, `PREROUTING` for ingress.
    var chain: String
    var arguments: [String]

    func add(in namespace: NetworkNamespace) throws {
        try namespace.run([tool, "-w", "-t", "mangle", "-A", chain] + arguments)
    }

    func isPresent(in namespace: NetworkNamespace) -> Bool {
        namespace.succeeds([tool, "-w", "-t", "mangle", "-C", chain] + arguments)
    }

    func delete(in namespace: NetworkNamespace) throws {
        try namespace.run([tool, "-w", "-t", "mangle", "-D", chain] + arguments)
    }

    /// The nft table that iptables-nft keeps this tool's mangle rules in.
    var nftTable: String { tool == "ip6tables" ? "ip6 mangle" : "ip mangle" }
}

/// Undo kind `network.delay-stop`: deletes the fault's NFQUEUE rules, stops its delayer (which
/// lets every packet it holds go), removes the mangle table that iptables-nft created for the
/// rules if it was not there before and holds nothing else, and verifies all three.
public enum DelayStop: UndoHandler {
    public struct Payload: Codable, Sendable {
        var namespace: NetworkNamespace
        /// `EBB_DELAY=<marker>` in the delayer's environment: `<run id>/<sequence>`.
        var marker: String
        var comment: String
        var queue: UInt16
        var rules: [QueueRule]
        /// Mangle tables (`ip mangle`, `ip6 mangle`) that did not exist when the fault was planned.
        var absentTables: [String]

        init(namespace: NetworkNamespace, runID: String, sequence: Int, match: PacketMatch) {
            self.namespace = namespace
            marker = "\(runID)/\(sequence)"
            comment = "ebb:\(runID)/\(sequence)"
            let queue = UInt16(1000 + FaultHash.of(runID: runID, sequence: sequence) % 60000)
            self.queue = queue
            let tools = match.family.map { $0 == .ipv6 ? ["ip6tables"] : ["iptables"] } ?? ["iptables", "ip6tables"]
            rules = tools.flatMap { tool in
                match.directions.map { direction in
                    QueueRule(tool: tool, chain: direction == .egress ? "OUTPUT" : "PREROUTING",
                              arguments: match.iptablesArguments(ipv6: tool == "ip6tables")
                                  + ["-m", "comment", "--comment", "ebb:\(runID)/\(sequence)",
                                     "-j", "NFQUEUE", "--queue-num", String(queue), "--queue-bypass"])
                }
            }
            let tables = Set(rules.map(\.nftTable)).sorted()
            absentTables = tables.filter { !namespace.succeeds(["nft", "list", "table"] + $0.split(separator: " ").map(String.init)) }
        }

        func requireTools() throws {
            for tool in Set(rules.map(\.tool)) + ["nft"] { try SystemTool.requireInstalled(tool) }
            try namespace.requireExists()
        }
    }

    public static let kind = "network.delay-stop"
    static let environmentKey = "EBB_DELAY"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let namespace = payload.namespace
        let namespaceGone = namespace.name != nil && (try? namespace.requireExists()) == nil
        if !namespaceGone {
            for rule in payload.rules {
                while rule.isPresent(in: namespace) { try rule.delete(in: namespace) }
            }
        }
        // Rules first, so nothing new is queued; SIGTERM lets the delayer release what it holds.
        let delayers = ProcessTable.carrying(environmentKey, payload.marker)
        for delayer in delayers { kill(delayer.pid, SIGTERM) }
        for delayer in delayers where !ChildProcess.waitUntilGone(delayer.pid, startTime: delayer.startTime, timeout: .seconds(3)) {
            kill(delayer.pid, SIGKILL)
            _ = ChildProcess.waitUntilGone(delayer.pid, startTime: delayer.startTime, timeout: .seconds(3))
        }
        if !namespaceGone {
            for table in payload.absentTables where isEmptyMangleTable(table, in: namespace) {
                try namespace.run(["nft", "delete", "table"] + table.split(separator: " ").map(String.init))
            }
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let namespace = payload.namespace
        if namespace.name == nil || (try? namespace.requireExists()) != nil {
            for tool in Set(payload.rules.map(\.tool)) {
                let listing = (try? namespace.run([tool, "-w", "-t", "mangle", "-S"])) ?? ""
                if listing.contains(payload.comment) {
                    throw VerificationFailure("\(tool) rules commented \(payload.comment) remain in \(namespace.label)")
                }
            }
        }
        let delayers = ProcessTable.carrying(environmentKey, payload.marker)
        guard delayers.isEmpty else { throw VerificationFailure("packet delayers still run: pids \(delayers.map(\.pid))") }
    }

    /// Whether a mangle table holds nothing but iptables-nft's empty base chains.
    private static func isEmptyMangleTable(_ table: String, in namespace: NetworkNamespace) -> Bool {
        let words = table.split(separator: " ").map(String.init)
        guard let listing = try? namespace.run(["nft", "list", "table"] + words) else { return false }
        let contentLines = listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { line in
            !(line.isEmpty || line.hasPrefix("table ") || line.hasPrefix("chain ") || line.hasPrefix("type ") || line == "}")
        }
        return contentLines.isEmpty
    }
}
