import EbbCore
import Foundation

/// `proxy.toxic`: a TCP fault on one direction of a suite proxy, for the fault's duration.
public enum ProxyToxic: FaultPlugin {
    public static let id = "proxy.toxic"
    public static var undoHandlers: [any UndoHandler.Type] { [ProxyRuleRemoval.self] }
    public static let summary =
        "apply a toxic (latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data) to one direction of a suite proxy; undo: remove it, verify every connection dropped it"
    public static let parameters = [
        ParameterSpec("proxy", .string, required: true, "name of a proxy in the suite's proxies:"),
        ParameterSpec(
            "toxic", .string, required: true,
            "latency, bandwidth, timeout, reset_peer, slow_close, slicer or limit_data"),
        ParameterSpec(
            "direction", .string, "downstream (dependency to client, default) or upstream (client to dependency)"),
        ParameterSpec("toxicity", .number, "share of connections affected, 0 to 1 (default 1)"),
        ParameterSpec("latency", .duration, "latency: delay added to each chunk of data"),
        ParameterSpec("jitter", .duration, "latency: up to this much more or less, at random"),
        ParameterSpec("rate", .size, "bandwidth: bytes per second, e.g. 64K"),
        ParameterSpec(
            "close_after", .duration,
            "timeout: close the connection this long after the toxic reaches it (default: hold until removed)"),
        ParameterSpec("after", .duration, "reset_peer: wait this long before the RST (default 0)"),
        ParameterSpec(
            "delay", .duration, "slow_close: how long a close is held back; slicer: pause between slices (default 0)"),
        ParameterSpec("average_size", .size, "slicer: average slice size in bytes"),
        ParameterSpec("size_variation", .size, "slicer: slices vary by up to this many bytes (default 0)"),
        ParameterSpec("bytes", .size, "limit_data: close the connection once this many bytes have passed"),
    ]

    /// Every toxic, by the name suites give it.
    static let toxics: [String: any Toxic.Type] = {
        let all: [any Toxic.Type] = [
            LatencyToxic.self, BandwidthToxic.self, TimeoutToxic.self, ResetPeerToxic.self,
            SlowCloseToxic.self, SlicerToxic.self, LimitDataToxic.self,
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()
    static let commonParameters = ["proxy", "toxic", "direction", "toxicity"]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let proxy = try ProxyRuleFault.proxyName(parameters, suite: suite)
        let name = try parameters.string("toxic")!
        guard let kind = toxics[name] else {
            throw parameters.error(
                "toxic", "unknown toxic '\(name)' (have: \(toxics.keys.sorted().joined(separator: ", ")))")
        }
        if let extra = parameters.names.subtracting(commonParameters + kind.parameterNames).sorted().first {
            throw parameters.error(
                extra,
                "'\(extra)' does not apply to the \(name) toxic (it takes: \(kind.parameterNames.joined(separator: ", ")))"
            )
        }
        let directionText = try parameters.string("direction") ?? ProxyDirection.downstream.rawValue
        guard let direction = ProxyDirection(rawValue: directionText) else {
            throw parameters.error("direction", "direction is upstream or downstream, not '\(directionText)'")
        }
        let toxic = try kind.init(parameters)
        return ProxyRuleFault(
            proxy: proxy, effect: .toxic(toxic, direction), share: try ProxyRuleFault.share(parameters, "toxicity"),
            summary: "\(toxic.summary) \(direction.rawValue)")
    }
}
