import EbbCore
import Foundation

/// An nftables table that one fault owns: `inet ebb_<run id>_<seq>`, carrying a comment with the
/// run id. Its chains hook input and output ahead of the default filter priority, so its rules act
/// whatever other tables accept. Undo deletes the whole table, which removes every rule at once.
struct NftTable: Codable, Sendable, Equatable {
    var namespace: NetworkNamespace
    var name: String
    /// `ebb run <id> fault <seq>`: how undo tells our table from a foreign one of the same name.
    var comment: String

    init(namespace: NetworkNamespace, runID: String, sequence: Int) {
        self.namespace = namespace
        name = "ebb_\(runID)_\(sequence)"
        comment = "ebb run \(runID) fault \(sequence)"
    }

    var label: String { "nft table inet \(name) in \(namespace.label)" }

    static let expiryMark = "expires "

    /// Whether `listing` (of this table) carries this fault's comment, with or without an expiry.
    func isOurs(_ listing: String) -> Bool {
        listing.contains("comment \"\(comment)\"") || listing.contains("comment \"\(comment) \(Self.expiryMark)")
    }

    /// The table's listing, or nil when it (or its namespace) does not exist.
    func listing() throws -> String? {
        if namespace.isGone { return nil }
        return try namespace.query(["nft", "list", "table", "inet", name])
    }

    /// Refuses when a table of this name already exists: it is not ours to touch.
    func requireAbsent() throws {
        try namespace.requireExists()
        if try listing() != nil {
            throw FaultError(
                description: "\(label) already exists and was not made by this fault; refusing to touch it")
        }
    }

    /// Creates the table with one rule per direction (none for a marker), atomically: `create`
    /// fails when a table of this name appeared meanwhile, and then nothing of the batch is
    /// applied. The comment also carries the fault's expiry (`expires <unix seconds>`), so `ebb
    /// rollback sweep` can remove the table once it has passed, even when no journal or registry
    /// record is left. The script stays at `scriptPath` for ``renew(expires:scriptPath:)``.
    func create(rule: String?, directions: [PacketMatch.Direction], expires: Date, scriptPath: String) throws {
        var lines = ["create table inet \(name) { comment \"\(comment) \(Self.expiryMark)\(Self.seconds(expires))\"; }"]
        for direction in rule == nil ? [] : directions {
            let (chain, hook) = direction == .ingress ? ("ingress", "input") : ("egress", "output")
            lines.append(
                "add chain inet \(name) \(chain) { type filter hook \(hook) priority filter - 10; policy accept; }")
            lines.append("add rule inet \(name) \(chain) \(rule ?? "")")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: scriptPath, atomically: true, encoding: .utf8)
        try namespace.run(["nft", "-f", scriptPath])
    }

    /// An empty table that only carries a fault's expiry, for faults whose own kernel objects
    /// have no room for one (a root qdisc, iptables rules): the sweep finds them through it
    /// (see ``NetworkLeftovers``).
    func createMarker(expires: Date, scriptPath: String) throws {
        try create(rule: nil, directions: [], expires: expires, scriptPath: scriptPath)
    }

    /// Moves the expiry in the table's comment (nft cannot change a comment in place): deletes
    /// and re-creates the table from its script in one transaction, which fails as a whole, and
    /// brings nothing back, when the table is gone meanwhile.
    func renew(expires: Date, scriptPath: String) throws {
        guard let listing = try listing(), isOurs(listing) else { return }  // taken back already, or not ours
        let script = try String(contentsOfFile: scriptPath, encoding: .utf8)
        guard let range = script.range(of: "\(Self.expiryMark)[0-9]+", options: .regularExpression) else {
            throw FaultError(description: "\(scriptPath) carries no expiry to move")
        }
        let renewed = script.replacingCharacters(in: range, with: "\(Self.expiryMark)\(Self.seconds(expires))")
        try renewed.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let batch = scriptPath + ".renew"
        try ("delete table inet \(name)\n" + renewed).write(toFile: batch, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: batch) }
        try namespace.run(["nft", "-f", batch])
    }

    /// Deletes the table if it exists and carries this fault's comment.
    func deleteIfOurs() throws {
        guard let listing = try listing(), isOurs(listing) else { return }
        try namespace.run(["nft", "delete", "table", "inet", name])
    }

    private static func seconds(_ date: Date) -> Int { Int(date.timeIntervalSince1970.rounded(.up)) }

    /// Where a fault's table script is kept: in its run directory.
    static func scriptPath(_ context: FaultContext) -> String {
        context.runDirectory.appending(path: "nft-\(context.sequence).nft").path
    }

    /// The expiry marker of a fault in `namespace`, refused when a table of its name exists;
    /// nil where nft is not installed (then only the journal and the registry know the fault).
    static func expiryMarker(in namespace: NetworkNamespace, _ context: FaultContext) throws -> NftTable? {
        guard SystemTool.isInstalled("nft") else { return nil }
        let table = NftTable(namespace: namespace, runID: context.runID, sequence: context.sequence)
        if !context.isDryRun { try table.requireAbsent() }
        return table
    }
}

/// Undo kind `network.nft-delete`: deletes the fault's own nft table, only if it still carries
/// the run's comment, and verifies it is gone.
public enum NftTableDelete: UndoHandler {
    public struct Payload: Codable, Sendable {
        var table: NftTable
    }

    public static let kind = "network.nft-delete"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let table = payload.table
        guard let listing = try table.listing() else { return .undone }  // gone, or its namespace is
        guard table.isOurs(listing) else {
            throw VerificationFailure(
                "\(table.label) does not carry the comment \"\(table.comment)\"; it is not ours, left alone")
        }
        try table.namespace.run(["nft", "delete", "table", "inet", table.name])
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        if try payload.table.listing() != nil { throw VerificationFailure("\(payload.table.label) still exists") }
    }
}
