import EbbCore
import Foundation

/// What a network fault may leave in a namespace besides its nft table, found by the names Ebb
/// derives from the run id and sequence: the root qdisc with the fault's handle (`tbf` or
/// `netem`), the iptables and ip6tables mangle rules commented `ebb:<run>/<seq>`, and the packet
/// delayer marked `EBB_DELAY=<run>/<seq>`. `ebb rollback sweep` removes them when the fault's
/// expiry marker has passed and no record of it is left. Mangle tables that iptables-nft
/// created for the rules stay: without the record nobody knows whether they were there before,
/// and empty they change nothing.
enum NetworkLeftovers {
    /// Removes the fault's leftovers in `namespace`; returns what was removed, for the report.
    static func remove(runID: String, sequence: Int, in namespace: NetworkNamespace) throws -> [String] {
        var removed: [String] = []
        let handle = OwnedRootQdisc(namespace: namespace, interface: "", kind: "", runID: runID, sequence: sequence)
            .handle
        for interface in try interfaces(in: namespace) {
            guard let root = try RootQdisc.of(interface, in: namespace), root.handle == handle,
                ["tbf", "netem"].contains(root.kind)
            else { continue }
            // Another sweep may delete it first: only a qdisc still there after a failure is one.
            try remove(
                { try namespace.run(["tc", "qdisc", "del", "dev", interface, "root", "handle", handle]) },
                stillThere: { try RootQdisc.of(interface, in: namespace)?.handle == handle })
            removed.append("\(root.kind) qdisc \(handle) on \(interface)")
        }
        let comment = "ebb:\(runID)/\(sequence)"
        for tool in ["iptables", "ip6tables"] where SystemTool.isInstalled(tool) {
            for chain in ["OUTPUT", "PREROUTING"] {
                guard let listing = try namespace.query([tool, "-w", "-t", "mangle", "-S", chain]) else { continue }
                for line in listing.split(separator: "\n").map(String.init)
                where QueueRule.carries(line + " ", comment: comment) {
                    let words = IptablesRuleLine.words(line)
                    guard words.count > 2, words[0] == "-A" else { continue }
                    try remove(
                        { try namespace.run([tool, "-w", "-t", "mangle", "-D"] + words.dropFirst()) },
                        stillThere: {
                            QueueRule.carries(
                                try namespace.run([tool, "-w", "-t", "mangle", "-S", chain]) + " ", comment: comment)
                        })
                    removed.append("\(tool) rule in \(chain) commented \(comment)")
                }
            }
        }
        let delayers = ProcessTable.carrying(DelayStop.environmentKey, "\(runID)/\(sequence)")
        if !delayers.isEmpty {
            DelayStop.stopDelayers(marked: "\(runID)/\(sequence)")
            removed.append("packet delayer pid \(delayers.map { String($0.pid) }.joined(separator: ", "))")
        }
        return removed
    }

    /// Runs `action`; a failure counts only if the thing is `stillThere` afterwards: many
    /// sweeps may run at once, and one that deleted it first has done the job.
    static func remove(_ action: () throws -> Void, stillThere: () throws -> Bool) throws {
        do { try action() } catch {
            if try stillThere() { throw error }
        }
    }

    /// The namespace's interfaces, from `ip -j link show`.
    static func interfaces(in namespace: NetworkNamespace) throws -> [String] {
        struct Link: Decodable { var ifname: String }
        let output = try namespace.run(["ip", "-j", "link", "show"])
        return try JSONDecoder().decode([Link].self, from: Data(output.utf8)).map(\.ifname)
    }
}

/// Splits one line of `iptables -S` into its words as iptables wrote them: words are separated
/// by spaces, and a double-quoted word (a comment with spaces) may hold `\"`. Written by hand
/// because iptables has no listing in a structured format, and a shell is not to be trusted
/// with what a rule's comment may hold.
enum IptablesRuleLine {
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false, escaped = false, inWord = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
                inWord = true
            } else if character == " " && !quoted {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
