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

    /// Whether the chain holds a rule with this rule's comment; failing to look throws.
    func isPresent(in namespace: NetworkNamespace) throws -> Bool {
        let listing = try namespace.run([tool, "-w", "-t", "mangle", "-S", chain])
        return Self.carries(listing, comment: comment)
    }

    /// The rule's comment, `ebb:<run id>/<seq>`.
    var comment: String {
        guard let index = arguments.firstIndex(of: "--comment"), index + 1 < arguments.count else { return "" }
        return arguments[index + 1]
    }

    /// Whether an `iptables -S` listing has a rule commented exactly `comment` (not one whose
    /// comment merely starts with it: `ebb:1a2b/1` is no match for `ebb:1a2b/12`).
    static func carries(_ listing: String, comment: String) -> Bool {
        listing.split(separator: "\n").contains { line in
            line.contains("--comment \"\(comment)\" ") || line.contains("--comment \(comment) ")
        }
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
        /// The nft table carrying the fault's expiry (see ``NftTable/createMarker(expires:scriptPath:)``);
        /// nil where nft is not installed, and in records from before markers.
        var expiryTable: NftTable?

        init(namespace: NetworkNamespace, runID: String, sequence: Int, match: PacketMatch) {
            self.namespace = namespace
            marker = "\(runID)/\(sequence)"
            comment = "ebb:\(runID)/\(sequence)"
            let queue = UInt16(1000 + FaultHash.of(runID: runID, sequence: sequence) % 60000)
            self.queue = queue
            let tools = match.family.map { $0 == .ipv6 ? ["ip6tables"] : ["iptables"] } ?? ["iptables", "ip6tables"]
            rules = tools.flatMap { tool in
                match.directions.map { direction in
                    QueueRule(
                        tool: tool, chain: direction == .egress ? "OUTPUT" : "PREROUTING",
                        arguments: match.iptablesArguments(ipv6: tool == "ip6tables")
                            + [
                                "-m", "comment", "--comment", "ebb:\(runID)/\(sequence)",
                                "-j", "NFQUEUE", "--queue-num", String(queue), "--queue-bypass",
                            ])
                }
            }
            absentTables = []
        }

        /// The mangle tables the rules need that do not exist yet (iptables-nft will create them).
        func absentMangleTables() throws -> [String] {
            if namespace.isGone { return [] }
            return try Set(rules.map(\.nftTable)).sorted().filter { table in
                try namespace.query(["nft", "list", "table"] + table.split(separator: " ").map(String.init)) == nil
            }
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
        let namespaceGone = namespace.isGone
        if !namespaceGone {
            for rule in payload.rules {
                while try rule.isPresent(in: namespace) { try rule.delete(in: namespace) }
            }
        }
        // Rules first, so nothing new is queued.
        stopDelayers(marked: payload.marker)
        if !namespaceGone {
            for table in payload.absentTables where try isEmptyMangleTable(table, in: namespace) {
                try namespace.run(["nft", "delete", "table"] + table.split(separator: " ").map(String.init))
            }
            try payload.expiryTable?.deleteIfOurs()
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let namespace = payload.namespace
        if !namespace.isGone {
            for tool in Set(payload.rules.map(\.tool)) {
                let listing = try namespace.run([tool, "-w", "-t", "mangle", "-S"])
                if QueueRule.carries(listing, comment: payload.comment) {
                    throw VerificationFailure("\(tool) rules commented \(payload.comment) remain in \(namespace.label)")
                }
            }
        }
        let delayers = ProcessTable.carrying(environmentKey, payload.marker)
        guard delayers.isEmpty else {
            throw VerificationFailure("packet delayers still run: pids \(delayers.map(\.pid))")
        }
        if let table = payload.expiryTable, try table.listing() != nil {
            throw VerificationFailure("\(table.label) (its expiry marker) still exists")
        }
    }

    /// Stops the delayers whose environment carries `EBB_DELAY=<marker>`: SIGTERM lets one
    /// release the packets it holds; SIGKILL after 3 s.
    static func stopDelayers(marked marker: String) {
        let delayers = ProcessTable.carrying(environmentKey, marker)
        for delayer in delayers { kill(delayer.pid, SIGTERM) }
        for delayer in delayers
        where !ChildProcess.waitUntilGone(delayer.pid, startTime: delayer.startTime, timeout: .seconds(3)) {
            kill(delayer.pid, SIGKILL)
            _ = ChildProcess.waitUntilGone(delayer.pid, startTime: delayer.startTime, timeout: .seconds(3))
        }
    }

    /// Whether a mangle table holds nothing but iptables-nft's base chains, empty and accepting:
    /// exactly what adding and deleting our rules leaves behind. Anyone else's chain, rule or
    /// policy means the table is not ours to delete.
    private static func isEmptyMangleTable(_ table: String, in namespace: NetworkNamespace) throws -> Bool {
        guard
            let listing = try namespace.query(["nft", "list", "table"] + table.split(separator: " ").map(String.init))
        else { return false }
        let baseChains: Set<String> = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        return listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.allSatisfy { line in
            if line.isEmpty || line == "}" || line == "table \(table) {" { return true }
            if line.hasPrefix("chain "), line.hasSuffix(" {") {
                return baseChains.contains(String(line.dropFirst(6).dropLast(2)))
            }
            return line.hasPrefix("type ") && line.hasSuffix("policy accept;")
        }
    }
}
