import EbbCore
import Foundation

/// `proxy.http`: for a share of the HTTP/1.1 requests matching method and path, the proxy
/// answers with a status itself, delays the request, or aborts the connection.
public enum ProxyHTTP: FaultPlugin {
    public static let id = "proxy.http"
    public static var undoHandlers: [any UndoHandler.Type] { [ProxyRuleRemoval.self] }
    public static let summary =
        "for a share of matching HTTP/1.1 requests through a suite proxy: answer with a status, add latency, or abort the connection; undo: remove the rule, verify"
    public static let parameters = [
        ParameterSpec("proxy", .string, required: true, "name of a proxy in the suite's proxies:"),
        ParameterSpec("method", .string, "only requests with this method, e.g. GET (default: any)"),
        ParameterSpec("path", .string, "only requests whose path starts with this, e.g. /api (default: any)"),
        ParameterSpec("ratio", .number, "share of matching requests affected, 0 to 1 (default 1)"),
        ParameterSpec("status", .integer, "answer with this HTTP status (100 to 599) instead of forwarding"),
        ParameterSpec("body", .string, "with status: the answer's body (default empty)"),
        ParameterSpec("latency", .duration, "forward the request this much later"),
        ParameterSpec("abort", .boolean, "reset the client's connection when the request arrives"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let proxy = try ProxyRuleFault.proxyName(parameters, suite: suite)
        let actions = ["status", "latency", "abort"].filter(parameters.contains)
        guard actions.count == 1, let chosen = actions.first else {
            throw parameters.error(
                actions.dropFirst().first ?? "status", "give exactly one of status, latency or abort")
        }
        if parameters.contains("body") && chosen != "status" { throw parameters.error("body", "body goes with status") }
        let action: HTTPRule.Action
        let summary: String
        switch chosen {
        case "status":
            let status = try parameters.integer("status")!
            guard (100...599).contains(status) else {
                throw parameters.error("status", "status must be from 100 to 599")
            }
            action = .status(status, body: try parameters.string("body") ?? "")
            summary = "answer \(status)"
        case "latency":
            let latency = try parameters.duration("latency")!
            action = .latency(latency)
            summary = "delay by \(DurationText.format(latency))"
        default:
            guard try parameters.boolean("abort") == true else {
                throw parameters.error("abort", "abort: true is the only form; leave it out otherwise")
            }
            action = .abort
            summary = "abort the connection"
        }
        let method = try parameters.string("method")
        let path = try parameters.string("path")
        if let path, !path.hasPrefix("/") { throw parameters.error("path", "a path starts with /") }
        let rule = HTTPRule(method: method, pathPrefix: path, action: action)
        return ProxyRuleFault(
            proxy: proxy, effect: .http(rule), share: try ProxyRuleFault.share(parameters, "ratio"),
            summary: "\(summary) for \(method ?? "any method") \(path ?? "/")*")
    }
}
