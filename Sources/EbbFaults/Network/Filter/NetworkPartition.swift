import EbbCore
import Foundation

/// `network.partition`: drops (or rejects) matching traffic with an nft table of the fault's own.
public enum NetworkPartition: FaultPlugin {
    public static let id = "network.partition"
    public static var undoHandlers: [any UndoHandler.Type] { [NftTableDelete.self] }
    public static let summary =
        "drop or reject matching packets with an nft table of the fault's own (root); undo: delete that table, verified"
    public static let parameters =
        [NetworkNamespace.parameter] + PacketMatch.parameters(defaultDirection: .both) + [
            ParameterSpec(
                "action", .string,
                "drop (default: peers time out) or reject (TCP reset, ICMP unreachable: peers fail at once)")
        ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let action = try parameters.string("action") ?? "drop"
        guard action == "drop" || action == "reject" else {
            throw parameters.error("action", "'\(action)' is not an action; use drop or reject")
        }
        let match = try PacketMatch(parameters, defaultDirection: .both)
        let verdict = action == "drop" ? "drop" : (match.transport == .tcp ? "reject with tcp reset" : "reject")
        return NftFilterFault(
            namespace: try NetworkNamespace(parameters), match: match, verdict: verdict,
            description: "\(action) \(match.label)")
    }
}

/// `network.loss`: drops a share of matching packets, chosen at random per packet.
public enum NetworkLoss: FaultPlugin {
    public static let id = "network.loss"
    public static var undoHandlers: [any UndoHandler.Type] { [NftTableDelete.self] }
    public static let summary =
        "drop `percent` of matching packets at random with an nft table of the fault's own (root); undo: delete that table, verified"
    public static let parameters =
        [
            NetworkNamespace.parameter,
            ParameterSpec(
                "percent", .number, required: true, "share of packets to drop, above 0 and up to 100 (steps of 0.01)"),
        ]
        + PacketMatch.parameters(defaultDirection: .both)

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let percent = try parameters.number("percent")!
        guard percent > 0, percent <= 100 else {
            throw parameters.error("percent", "percent must be above 0 and at most 100")
        }
        let match = try PacketMatch(parameters, defaultDirection: .both)
        // numgen draws from 0..<10000, so shares go in steps of 0.01%.
        let threshold = Int((percent * 100).rounded())
        return NftFilterFault(
            namespace: try NetworkNamespace(parameters), match: match,
            verdict: "numgen random mod 10000 < \(threshold) drop",
            description: "drop \(percent)% of \(match.label)")
    }
}

/// Partition and loss differ only in the rule's verdict.
struct NftFilterFault: Fault {
    let namespace: NetworkNamespace
    let match: PacketMatch
    let verdict: String
    let description: String

    func plan(_ context: FaultContext) throws -> FaultPlan {
        let table = NftTable(namespace: namespace, runID: context.runID, sequence: context.sequence)
        if !context.isDryRun { try table.requireAbsent() }
        return try FaultPlan(
            target: "\(description) in \(namespace.label)", undo: NftTableDelete.self,
            payload: NftTableDelete.Payload(table: table), undoSummary: "delete \(table.label)")
    }

    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let table = try plan.undoData.decode(NftTableDelete.Payload.self).table
        let rule = [match.nftExpression, "counter", verdict].filter { !$0.isEmpty }.joined(separator: " ")
        try table.create(
            rule: rule, directions: match.directions, expires: context.deadline,
            scriptPath: NftTable.scriptPath(context))
    }

    func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
        try plan.undoData.decode(NftTableDelete.Payload.self).table.renew(
            expires: context.deadline, scriptPath: NftTable.scriptPath(context))
    }
}
