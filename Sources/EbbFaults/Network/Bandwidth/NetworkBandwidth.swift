import EbbCore
import Foundation

/// `network.bandwidth`: caps an interface's egress rate with a token bucket (`tc tbf`).
public enum NetworkBandwidth: FaultPlugin {
    public static let id = "network.bandwidth"
    public static var undoHandlers: [any UndoHandler.Type] { [QdiscDelete.self] }
    public static let summary =
        "cap an interface's egress rate with a tbf root qdisc of the fault's own (root); refuses an interface whose root qdisc someone else set; undo: delete ours, verified"
    public static let parameters = [
        NetworkNamespace.parameter,
        ParameterSpec("interface", .string, required: true, "the interface whose outgoing traffic is limited"),
        ParameterSpec("rate", .string, required: true, "bits per second: e.g. 512kbit, 8mbit, 1gbit (SI units)"),
        ParameterSpec("burst", .size, "bucket size in bytes (default: 10 ms of the rate, at least 8 KiB)"),
        ParameterSpec(
            "latency", .duration, "longest a packet may wait in the bucket before it is dropped (default 50ms)"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let rateText = try parameters.string("rate")!
        guard let rate = BitRate(rateText) else {
            throw parameters.error("rate", "'\(rateText)' is not a rate; write e.g. 512kbit, 8mbit or 1gbit")
        }
        let burst = try parameters.size("burst") ?? max(8192, rate.bitsPerSecond / 8 / 100)
        // A bucket smaller than one full-size frame lets nothing through at all.
        guard burst >= 1600 else {
            throw parameters.error("burst", "burst must be at least 1600 bytes (one Ethernet frame)")
        }
        let latency = try parameters.duration("latency") ?? .milliseconds(50)
        guard latency > .zero else { throw parameters.error("latency", "latency must be above zero") }
        return BandwidthFault(
            namespace: try NetworkNamespace(parameters), interface: try InterfaceName.parse(parameters),
            rate: rate, burst: burst, latency: latency)
    }

    struct BandwidthFault: Fault {
        let namespace: NetworkNamespace
        let interface: String
        let rate: BitRate
        let burst: UInt64
        let latency: Duration

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let qdisc = OwnedRootQdisc(
                namespace: namespace, interface: interface, kind: "tbf", runID: context.runID,
                sequence: context.sequence)
            if !context.isDryRun { try qdisc.requireDefaultRoot() }
            return try FaultPlan(
                target: "egress of \(interface) in \(namespace.label) capped at \(rate.text)", undo: QdiscDelete.self,
                payload: QdiscDelete.Payload(
                    qdisc: qdisc, expiryTable: try NftTable.expiryMarker(in: namespace, context)),
                undoSummary: "delete \(qdisc.label)")
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            let payload = try plan.undoData.decode(QdiscDelete.Payload.self)
            try payload.expiryTable?.createMarker(expires: context.deadline, scriptPath: NftTable.scriptPath(context))
            try payload.qdisc.add([
                "rate", "\(rate.bitsPerSecond)bit", "burst", String(burst), "latency",
                "\(Int(latency.seconds * 1_000_000))us",
            ])
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            try plan.undoData.decode(QdiscDelete.Payload.self).expiryTable?.renew(
                expires: context.deadline, scriptPath: NftTable.scriptPath(context))
        }
    }
}

/// A rate in bits per second, written with SI units as tc writes them (`kbit` is 1000 bits).
struct BitRate: Equatable {
    var bitsPerSecond: UInt64
    var text: String

    init?(_ text: String) {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        where lowered.hasSuffix(suffix) {
            guard let value = Double(lowered.dropLast(suffix.count)), value > 0, value * factor >= 8,
                value * factor <= 1e12
            else { return nil }
            bitsPerSecond = UInt64(value * factor)
            self.text = text
            return
        }
        return nil
    }
}

/// Interface names as the kernel allows them (at most 15 bytes, no '/' or spaces).
enum InterfaceName {
    static func parse(_ parameters: FaultParameters) throws -> String {
        let name = try parameters.string("interface")!
        guard !name.isEmpty, name.utf8.count <= 15, !name.contains(where: { $0 == "/" || $0.isWhitespace || $0 == ":" })
        else {
            throw parameters.error("interface", "'\(name)' is not an interface name")
        }
        return name
    }
}
