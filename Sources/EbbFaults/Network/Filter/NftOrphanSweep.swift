import EbbCore
import Foundation

/// Finds nft tables that Ebb made (`inet ebb_<run>_<seq>`, comment `ebb run <run> fault <seq>
/// expires <unix seconds>`) and whose expiry has passed, in the host's namespace and in every
/// named one, removes what the fault left besides (a qdisc, iptables rules, a delayer: see
/// ``NetworkLeftovers``; the table is their expiry marker) and deletes the table: what `ebb
/// rollback sweep` does when no record of the fault is left anywhere. A table without Ebb's
/// exact comment, or without an expiry, is never touched.
public enum NftOrphanSweep {
    /// One table the sweep found expired, and what became of it.
    public struct Removal: Sendable {
        public var table: String
        public var namespace: String
        public var expiredAt: Date
        /// What went with the table (a qdisc, iptables rules, a delayer), if anything.
        public var leftovers: [String] = []
        /// nil when it was deleted and is verified gone.
        public var problem: String?

        /// The removal as a rollback result, so the sweep's summary lists it beside the records
        /// it executed (a record made up from the table: no journal knew of it).
        public var result: RollbackResult {
            let parts = table.split(separator: "_")
            var record = UndoRecord(
                runID: parts.count == 3 ? String(parts[1]) : "?", sequence: parts.count == 3 ? Int(parts[2]) ?? 1 : 1,
                scenario: "no record", fault: "nft table", plugin: "network",
                target: "nft table inet \(table) in \(namespace)",
                kind: NftTableDelete.kind, data: .null, state: problem == nil ? .reverted : .revertFailed,
                armedAt: expiredAt, deadline: expiredAt)
            record.finishedAt = Date()
            record.revertedBy = HostSweep.actor
            record.message =
                problem ?? "found by name and comment after its expiry, with no record left"
                + (leftovers.isEmpty ? "" : "; removed with it: \(leftovers.joined(separator: ", "))")
            return RollbackResult(record: record, duration: .zero)
        }
    }

    /// Deletes every expired Ebb table (only those of runs not in `liveRuns`).
    public static func sweep(now: Date = Date(), liveRuns: Set<String> = []) -> [Removal] {
        guard SystemTool.isInstalled("nft") else { return [] }
        var removals: [Removal] = []
        for namespace in namespaces() where !namespace.isGone {
            guard let listing = try? namespace.query(["nft", "list", "tables"]) else { continue }
            for line in listing.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard words.count == 3, words[0] == "table", words[1] == "inet", words[2].hasPrefix("ebb_") else {
                    continue
                }
                let name = String(words[2])
                let parts = name.split(separator: "_")
                guard parts.count == 3, let sequence = Int(parts[2]), !liveRuns.contains(String(parts[1])) else {
                    continue
                }
                let table = NftTable(namespace: namespace, runID: String(parts[1]), sequence: sequence)
                guard let text = try? table.listing(), let expiry = expiry(in: text, of: table), expiry < now else {
                    continue
                }
                var removal = Removal(table: name, namespace: namespace.label, expiredAt: expiry)
                InFlightTools.settle(runID: String(parts[1]))  // a dead runner's `tc` may still be adding
                do {
                    // The table goes last: while anything of the fault is left, it stays findable.
                    removal.leftovers = try NetworkLeftovers.remove(
                        runID: String(parts[1]), sequence: sequence, in: namespace)
                    // Another sweep (many may run at once) can delete it first: gone is what counts.
                    try NetworkLeftovers.remove(
                        { try namespace.run(["nft", "delete", "table", "inet", name]) },
                        stillThere: { try table.listing() != nil })
                    if try table.listing() != nil { removal.problem = "\(table.label) still exists after delete" }
                } catch {
                    removal.problem = "\(error)"
                }
                removals.append(removal)
            }
        }
        return removals
    }

    /// The expiry in the table's comment, only if the comment is exactly the one Ebb writes.
    static func expiry(in listing: String, of table: NftTable) -> Date? {
        let prefix = "comment \"\(table.comment) \(NftTable.expiryMark)"
        guard let start = listing.range(of: prefix) else { return nil }
        let digits = listing[start.upperBound...].prefix { $0.isNumber }
        guard listing[start.upperBound...].dropFirst(digits.count).first == "\"", let seconds = Double(digits) else {
            return nil
        }
        return Date(timeIntervalSince1970: seconds)
    }

    /// The host's namespace and every named one under /run/netns.
    static func namespaces() -> [NetworkNamespace] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        return [NetworkNamespace(name: nil)]
            + names.sorted().filter { !$0.hasPrefix(".") }.map { NetworkNamespace(name: $0) }
    }
}
