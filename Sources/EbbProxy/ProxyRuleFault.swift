import EbbCore
import Foundation

/// A `proxy.toxic` or `proxy.http` fault: adds one rule to a running suite proxy. Its undo
/// (`proxy.remove`) takes the rule off; the proxy itself also drops it at the fault's deadline.
struct ProxyRuleFault: Fault {
    let proxy: String
    let effect: ProxyRule.Effect
    let share: Double
    /// For people: `latency 100ms downstream`, `status 503 for GET /api`.
    let summary: String

    func plan(_ context: FaultContext) throws -> FaultPlan {
        // Proxies start with the suite's setup; a dry run plans without them.
        let listen =
            context.services.service(FaultProxy.self, runID: context.runID, name: proxy)?.listen.description
            ?? "its listen address"
        let payload = ProxyRuleRemoval.Payload(
            proxy: proxy, listen: listen, rule: "\(context.runID)/\(context.sequence)", owner: .current)
        return try FaultPlan(
            target: "proxy \(proxy): \(summary)"
                + (share < 1 ? " (\(Self.percent(share)) of \(Self.unit(effect)))" : ""),
            undo: ProxyRuleRemoval.self, payload: payload,
            undoSummary: "remove the rule from proxy \(proxy) and verify every connection dropped it")
    }

    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        let payload = try plan.undoData.decode(ProxyRuleRemoval.Payload.self)
        guard let running = context.services.service(FaultProxy.self, runID: context.runID, name: proxy) else {
            throw FaultError(description: "proxy \(proxy) is not running in this run")
        }
        running.add(ProxyRule(id: payload.rule, effect: effect, share: share), until: context.deadline)
    }

    static func percent(_ share: Double) -> String { "\((share * 1000).rounded() / 10)%" }

    static func unit(_ effect: ProxyRule.Effect) -> String {
        if case .http = effect { return "matching requests" } else { return "connections" }
    }

    /// The `proxy` parameter, checked against the suite's `proxies:`.
    static func proxyName(_ parameters: FaultParameters, suite: SuiteContext) throws -> String {
        let name = try parameters.string("proxy")!
        guard suite.proxyNames.contains(name) else {
            let known =
                suite.proxyNames.isEmpty
                ? "the suite has no 'proxies:' section" : "have: \(suite.proxyNames.joined(separator: ", "))"
            throw parameters.error("proxy", "no proxy named '\(name)' (\(known))")
        }
        return name
    }

    /// A share from 0 to 1 (default 1).
    static func share(_ parameters: FaultParameters, _ name: String) throws -> Double {
        let value = try parameters.number(name) ?? 1
        guard (0...1).contains(value) else { throw parameters.error(name, "\(name) is a share from 0 to 1, e.g. 0.5") }
        return value
    }
}
