import EbbCore
import Foundation
import Logging
import Yams

/// Reads the suite's `proxies:` section: `name`, `listen` and `upstream` of each proxy.
public struct ProxiesReader: ProxySectionReader {
    static let keys = ["name", "listen", "upstream"]
    /// Where the proxies this reader's suites start are kept for their faults and undos.
    let services: LiveServices

    /// `services` must be what the runner holds (``Runner/Options/services``), so that the
    /// faults and undos of the suites' proxies reach them.
    public init(services: LiveServices) {
        self.services = services
    }

    public func read(_ node: Node, reader: YAMLNodeReader) throws -> [any SuiteProxy] {
        var problems = SuiteProblems { reader.error(node, "proxies", "\($0)") }
        var proxies: [ProxySpec] = []
        let items = problems.collect { try reader.sequence(node, "proxies") } ?? []
        for (index, item) in items.enumerated() {
            if let proxy = problems.collect({ try self.proxy(item, at: "proxies[\(index)]", reader) }) {
                if proxies.contains(where: { $0.name == proxy.name }) {
                    problems.add(
                        reader.error(item, "proxies[\(index)].name", "proxy name '\(proxy.name)' is used twice"))
                } else if let other = proxies.first(where: { $0.listen == proxy.listen }) {
                    problems.add(
                        reader.error(
                            item, "proxies[\(index)].listen", "proxy \(other.name) already listens on \(proxy.listen)"))
                }
                proxies.append(proxy)
            }
        }
        try problems.throwIfAny()
        return proxies
    }

    private func proxy(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> ProxySpec {
        let values = try reader.mapping(node, at: key, allowed: Self.keys)
        func required(_ name: String, _ hint: String) throws -> Node {
            guard let value = values[name] else {
                throw reader.error(node, "\(key).\(name)", "a proxy needs '\(name)' (\(hint))")
            }
            return value
        }
        let name = try reader.string(try required("name", "faults name the proxy by it"), "\(key).name")
        let listen = try address(
            try required("listen", "host:port the system under test connects to, e.g. 127.0.0.1:18080"),
            "\(key).listen", reader)
        guard listen.port != 0 else {
            throw reader.error(
                values["listen"], "\(key).listen", "give a fixed port: clients must know where to connect")
        }
        let upstream = try address(
            try required("upstream", "host:port of the dependency, e.g. 127.0.0.1:8080"), "\(key).upstream", reader)
        guard upstream.port != 0 else {
            throw reader.error(values["upstream"], "\(key).upstream", "port 0 is not a dependency's port")
        }
        return ProxySpec(name: name, listen: listen, upstream: upstream, services: services)
    }

    private func address(_ node: Node, _ key: String, _ reader: YAMLNodeReader) throws -> ProxyAddress {
        let text = try reader.string(node, key)
        guard let address = ProxyAddress(text) else { throw reader.error(node, key, "'\(text)' is not host:port") }
        return address
    }

    public var schema: JSONValue {
        // No pattern: a port may come from ${VARIABLE}, which the schema sees unsubstituted.
        let address: JSONValue = ["type": "string", "description": "host:port"]
        return [
            "type": "array", "description": "fault proxies run inside the runner (proxy.toxic, proxy.http)",
            "items": SuiteSchema.object(
                [("name", ["type": "string"]), ("listen", address), ("upstream", address)],
                required: ["name", "listen", "upstream"]),
        ]
    }
}

/// One proxy of a suite, as configured; ``start(_:runID:logger:)`` makes it a running ``FaultProxy``.
struct ProxySpec: SuiteProxy {
    let name: String
    let listen: ProxyAddress
    let upstream: ProxyAddress
    let services: LiveServices

    var outline: String { "\(name) \(listen) -> \(upstream)" }

    func plan(runID: String) throws -> FaultPlan {
        let payload = ProxyStop.Payload(
            proxy: name, listen: listen.description, upstream: upstream.description, owner: .current)
        return try FaultPlan(
            target: "proxy \(outline)", undo: ProxyStop.self, payload: payload,
            undoSummary: "stop proxy \(name) and close its connections")
    }

    func start(_ plan: FaultPlan, runID: String, logger: Logger) throws {
        let proxy = FaultProxy(name: name, listen: listen, upstream: upstream, logger: logger)
        do {
            try proxy.start()
        } catch {
            proxy.stop()
            throw FaultError(description: "proxy \(name) cannot listen on \(listen): \(error)")
        }
        services.add(proxy, runID: runID, name: name)
    }
}
