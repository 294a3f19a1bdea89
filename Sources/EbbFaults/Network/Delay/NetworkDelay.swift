import EbbCore
import Foundation

/// `network.delay`: adds latency (with jitter) to matching packets. With netem in the kernel and
/// an `interface` without a packet match, a netem root qdisc delays the interface's egress;
/// otherwise (this is the only way on kernels built without sch_netem) an iptables NFQUEUE rule
/// hands matching packets to `ebb delay-worker`, which holds each one before accepting it.
public enum NetworkDelay: FaultPlugin {
    public static let id = "network.delay"
    public static var undoHandlers: [any UndoHandler.Type] { [QdiscDelete.self, DelayStop.self] }
    public static let summary =
        "delay matching packets by `delay` +/- `jitter`: netem qdisc where the kernel has it, else NFQUEUE and a user-space delayer (root); undo: remove the qdisc or rule and stop the delayer, verified"
    public static let parameters =
        [
            NetworkNamespace.parameter,
            ParameterSpec("delay", .duration, required: true, "added latency per packet (e.g. 100ms)"),
            ParameterSpec("jitter", .duration, "uniform variation around the delay, at most the delay (default 0)"),
            ParameterSpec("interface", .string, "netem only: the interface whose egress is delayed"),
            ParameterSpec(
                "mechanism", .string,
                "auto (default), netem or nfqueue; auto picks netem only when it exists and `interface` is given without a packet match"
            ),
        ] + PacketMatch.parameters(defaultDirection: .egress)

    enum Mechanism: String {
        case auto, netem, nfqueue
    }

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let delay = try parameters.duration("delay")!
        let jitter = try parameters.duration("jitter") ?? .zero
        guard delay >= .milliseconds(1), delay <= .seconds(10) else {
            throw parameters.error("delay", "delay must be from 1ms to 10s")
        }
        guard jitter >= .zero, jitter <= delay, jitter == .zero || jitter >= .milliseconds(1) else {
            throw parameters.error("jitter", "jitter must be 0, or from 1ms to the delay")
        }
        let mechanismText = try parameters.string("mechanism") ?? "auto"
        guard let mechanism = Mechanism(rawValue: mechanismText) else {
            throw parameters.error("mechanism", "'\(mechanismText)' is not a mechanism; use auto, netem or nfqueue")
        }
        let interface = parameters.contains("interface") ? try InterfaceName.parse(parameters) : nil
        let match = try PacketMatch(parameters, defaultDirection: .egress)
        let matchGiven = !Set(["direction", "protocol", "destination", "source", "port", "source_port"]).isDisjoint(
            with: parameters.names)
        if mechanism == .netem {
            guard interface != nil else {
                throw parameters.error("mechanism", "netem delays an interface: give `interface`")
            }
            guard !matchGiven else {
                throw parameters.error(
                    "mechanism", "netem delays a whole interface's egress; a packet match needs mechanism nfqueue")
            }
        }
        if mechanism == .auto, interface != nil, matchGiven {
            throw parameters.error(
                "interface",
                "`interface` is for netem, which delays a whole interface; leave it out to delay only the matching packets"
            )
        }
        if mechanism == .nfqueue, interface != nil {
            throw parameters.error(
                "interface",
                "nfqueue delays matching packets, not an interface; leave out `interface` or use mechanism netem")
        }
        return DelayFault(
            namespace: try NetworkNamespace(parameters), delay: delay, jitter: jitter, match: match,
            interface: interface, mechanism: mechanism)
    }

    struct DelayFault: Fault {
        let namespace: NetworkNamespace
        let delay: Duration
        let jitter: Duration
        let match: PacketMatch
        let interface: String?
        let mechanism: Mechanism

        func plan(_ context: FaultContext) throws -> FaultPlan {
            let amount =
                jitter > .zero ? "\(delay.milliseconds) ms +/- \(jitter.milliseconds) ms" : "\(delay.milliseconds) ms"
            if let interface, mechanism != .nfqueue {
                let qdisc = OwnedRootQdisc(
                    namespace: namespace, interface: interface, kind: "netem", runID: context.runID,
                    sequence: context.sequence)
                if !context.isDryRun {
                    switch NetemSupport.answer {
                    case .available: break
                    case .absent:
                        throw FaultError(
                            description:
                                "this kernel has no netem qdisc (sch_netem); leave out `interface` to delay matching packets with NFQUEUE in user space"
                        )
                    case .unknown(let reason):
                        throw FaultError(
                            description:
                                "could not find out whether this kernel has netem (\(reason)); leave out `interface` to delay with NFQUEUE in user space"
                        )
                    }
                    try qdisc.requireDefaultRoot()
                }
                return try FaultPlan(
                    target: "egress of \(interface) in \(namespace.label) delayed \(amount) (netem)",
                    undo: QdiscDelete.self,
                    payload: QdiscDelete.Payload(
                        qdisc: qdisc, expiryTable: try NftTable.expiryMarker(in: namespace, context)),
                    undoSummary: "delete \(qdisc.label)")
            }
            var payload = DelayStop.Payload(
                namespace: namespace, runID: context.runID, sequence: context.sequence, match: match)
            if !context.isDryRun {
                try payload.requireTools()
                payload.absentTables = try payload.absentMangleTables()
            }
            payload.expiryTable = try NftTable.expiryMarker(in: namespace, context)
            return try FaultPlan(
                target:
                    "\(match.label) in \(namespace.label) delayed \(amount) (NFQUEUE \(payload.queue), in user space)",
                undo: DelayStop.self, payload: payload,
                undoSummary:
                    "delete the iptables rules commented \(payload.comment), stop the delayer marked \(DelayStop.environmentKey)=\(payload.marker)"
            )
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            if plan.undoKind == QdiscDelete.kind {
                let payload = try plan.undoData.decode(QdiscDelete.Payload.self)
                try payload.expiryTable?.createMarker(
                    expires: context.deadline, scriptPath: NftTable.scriptPath(context))
                let qdisc = payload.qdisc
                var options = ["delay", "\(delay.milliseconds)ms"]
                if jitter > .zero { options += ["\(jitter.milliseconds)ms"] }
                try qdisc.add(options)
                return
            }
            let payload = try plan.undoData.decode(DelayStop.Payload.self)
            try payload.expiryTable?.createMarker(expires: context.deadline, scriptPath: NftTable.scriptPath(context))
            let ready = context.runDirectory.appending(path: "delay-\(context.sequence).ready").path
            let arguments = [
                "delay-worker", "--queue", String(payload.queue), "--delay-ms", String(delay.milliseconds),
                "--jitter-ms", String(jitter.milliseconds), "--until",
                String(format: "%.3f", context.deadline.timeIntervalSince1970),
                "--ready-file", ready,
            ]
            // A session of its own, like the hogs: it outlives Ebb's process group and stops at
            // its deadline by itself; the rule's --queue-bypass then lets packets pass.
            let pid = try ChildProcess.spawn(
                namespace.commandPrefix + [ChildProcess.currentExecutable] + arguments,
                environment: [DelayStop.environmentKey: payload.marker],
                outputPath: context.runDirectory.appending(path: "delay-\(context.sequence).log").path,
                newSession: true)
            guard
                Poll.until(
                    timeout: .seconds(5),
                    { FileManager.default.fileExists(atPath: ready) || ChildProcess.reap(pid) != nil }),
                FileManager.default.fileExists(atPath: ready)
            else {
                let log =
                    (try? String(
                        contentsOfFile: context.runDirectory.appending(path: "delay-\(context.sequence).log")
                            .path, encoding: .utf8)) ?? ""
                throw FaultError(
                    description:
                        "the packet delayer did not bind NFQUEUE \(payload.queue): \(log.trimmingCharacters(in: .whitespacesAndNewlines))"
                )
            }
            for rule in payload.rules { try rule.add(in: namespace) }
        }

        func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
            let table =
                plan.undoKind == QdiscDelete.kind
                ? try plan.undoData.decode(QdiscDelete.Payload.self).expiryTable
                : try plan.undoData.decode(DelayStop.Payload.self).expiryTable
            try table?.renew(expires: context.deadline, scriptPath: NftTable.scriptPath(context))
        }
    }
}

extension Duration {
    /// Whole milliseconds, for tc and the delayer's arguments.
    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
