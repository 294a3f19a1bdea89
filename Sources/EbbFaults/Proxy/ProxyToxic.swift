import EbbCore
import Foundation

/// `proxy.toxic`: a TCP fault on one direction of a suite proxy, for the fault's duration.
public enum ProxyToxic: FaultPlugin {
    public static let id = "proxy.toxic"
    public static var undoHandlers: [any UndoHandler.Type] { [ProxyRuleRemoval.self] }
    public static let summary = "apply a toxic (latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data) to one direction of a suite proxy; undo: remove it, verify every connection dropped it"
    public static let parameters = [
        ParameterSpec("proxy", .string, required: true, "name of a proxy in the suite's proxies:"),
        ParameterSpec("toxic", .string, required: true, "latency, bandwidth, timeout, reset_peer, slow_close, slicer or limit_data"),
        ParameterSpec("direction", .string, "downstream (dependency to client, default) or upstream (client to dependency)"),
        ParameterSpec("toxicity", .number, "share of connections affected, 0 to 1 (default 1)"),
        ParameterSpec("latency", .duration, "latency: delay added to each chunk of data"),
        ParameterSpec("jitter", .duration, "latency: up to this much more or less, at random"),
        ParameterSpec("rate", .size, "bandwidth: bytes per second, e.g. 64K"),
        ParameterSpec("close_after", .duration, "timeout: close the connection this long after the toxic reaches it (default: hold until removed)"),
        ParameterSpec("after", .duration, "reset_peer: wait this long before the RST (default 0)"),
        ParameterSpec("delay", .duration, "slow_close: how long a close is held back; slicer: pause between slices (default 0)"),
        ParameterSpec("average_size", .size, "slicer: average slice size in bytes"),
        ParameterSpec("size_variation", .size, "slicer: slices vary by up to this many bytes (default 0)"),
        ParameterSpec("bytes", .size, "limit_data: close the connection once this many bytes have passed"),
    ]

    /// The parameters each toxic takes beside the common ones.
    static let toxicParameters: [String: [String]] = [
        "latency": ["latency", "jitter"], "bandwidth": ["rate"], "timeout": ["close_after"], "reset_peer": ["after"],
        "slow_close": ["delay"], "slicer": ["average_size", "size_variation", "delay"], "limit_data": ["bytes"],
    ]
    static let commonParameters = ["proxy", "toxic", "direction", "toxicity"]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let proxy = try ProxyRuleFault.proxyName(parameters, suite: suite)
        let name = try parameters.string("toxic")!
        guard let own = toxicParameters[name] else {
            throw parameters.error("toxic", "unknown toxic '\(name)' (have: \(toxicParameters.keys.sorted().joined(separator: ", ")))")
        }
        if let extra = parameters.names.subtracting(commonParameters + own).sorted().first {
            throw parameters.error(extra, "'\(extra)' does not apply to the \(name) toxic (it takes: \(own.joined(separator: ", ")))")
        }
        let directionText = try parameters.string("direction") ?? ProxyDirection.downstream.rawValue
        guard let direction = ProxyDirection(rawValue: directionText) else {
            throw parameters.error("direction", "direction is upstream or downstream, not '\(directionText)'")
        }
        let toxic = try self.toxic(name, parameters)
        return ProxyRuleFault(proxy: proxy, effect: .toxic(toxic, direction), share: try ProxyRuleFault.share(parameters, "toxicity"),
                              summary: "\(describe(toxic)) \(direction.rawValue)")
    }

    private static func toxic(_ name: String, _ parameters: FaultParameters) throws -> Toxic {
        func required<T>(_ key: String, _ value: T?) throws -> T {
            guard let value else { throw parameters.error(key, "the \(name) toxic needs '\(key)'") }
            return value
        }
        switch name {
        case "latency":
            return .latency(try required("latency", parameters.duration("latency")), jitter: try parameters.duration("jitter") ?? .zero)
        case "bandwidth":
            let rate = try required("rate", parameters.size("rate"))
            guard rate > 0 else { throw parameters.error("rate", "rate must be above zero (use the timeout toxic to stop data)") }
            return .bandwidth(bytesPerSecond: rate)
        case "timeout":
            return .timeout(closeAfter: try parameters.duration("close_after"))
        case "reset_peer":
            return .resetPeer(after: try parameters.duration("after") ?? .zero)
        case "slow_close":
            return .slowClose(delay: try required("delay", parameters.duration("delay")))
        case "slicer":
            let average = try required("average_size", parameters.size("average_size"))
            let variation = try parameters.size("size_variation") ?? 0
            guard average > 0, average <= 1 << 20 else { throw parameters.error("average_size", "average_size must be from 1 byte to 1M") }
            guard variation < average else { throw parameters.error("size_variation", "size_variation must be smaller than average_size") }
            return .slicer(averageSize: Int(average), variation: Int(variation), delay: try parameters.duration("delay") ?? .zero)
        default:
            return .limitData(bytes: try required("bytes", parameters.size("bytes")))
        }
    }

    static func describe(_ toxic: Toxic) -> String {
        switch toxic {
        case .latency(let latency, let jitter):
            return "latency \(DurationText.format(latency))" + (jitter > .zero ? " +/- \(DurationText.format(jitter))" : "")
        case .bandwidth(let rate): return "bandwidth \(rate) bytes/s"
        case .timeout(let closeAfter): return "timeout" + (closeAfter.map { ", close after \(DurationText.format($0))" } ?? "")
        case .resetPeer(let after): return "reset_peer after \(DurationText.format(after))"
        case .slowClose(let delay): return "slow_close by \(DurationText.format(delay))"
        case .slicer(let size, let variation, let delay): return "slicer \(size) +/- \(variation) bytes every \(DurationText.format(delay))"
        case .limitData(let bytes): return "limit_data \(bytes) bytes"
        }
    }
}
