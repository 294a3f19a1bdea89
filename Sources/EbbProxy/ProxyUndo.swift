import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The runner process a proxy lives in, so that an undo run elsewhere (the guardian,
/// `ebb rollback execute`) can tell whether the proxy went down with it.
public struct ProxyOwner: Codable, Sendable {
    public var pid: Int32
    public var startTime: UInt64?

    static var current: ProxyOwner {
        ProxyOwner(pid: getpid(), startTime: ProcessTable.stat(getpid())?.startTime)
    }

    var isThisProcess: Bool { pid == getpid() }

    var isAlive: Bool {
        if let startTime { return ProcessTable.isAlive(pid: pid, startTime: startTime) }
        return ProcessTable.stat(pid).map { !$0.isGone } ?? false
    }

    /// What an undo can do about a proxy that is not running in this process: nothing is left if
    /// it was stopped here or died with its runner; a live runner elsewhere holds it out of reach.
    func absence(of proxy: String, listen: String) throws -> UndoOutcome {
        if isThisProcess { return .undone }
        guard !isAlive else {
            throw VerificationFailure(
                "proxy \(proxy) lives inside runner pid \(pid), which still runs; only that process can change it (it drops its faults at their deadline by itself)"
            )
        }
        return .gone(
            reason:
                "proxy gone with the runner (pid \(pid)): \(proxy) on \(listen) closed with it, so its clients get connection refused until a run starts it again"
        )
    }

    /// Verifies the absence found by ``absence(of:listen:)``.
    func verifyAbsent(_ proxy: String) throws {
        if !isThisProcess && isAlive {
            throw VerificationFailure("proxy \(proxy) still runs inside runner pid \(pid)")
        }
    }
}

/// Undo kind `proxy.remove`: takes a `proxy.toxic` or `proxy.http` rule off its proxy and
/// verifies that every connection has let go of it.
public enum ProxyRuleRemoval: UndoHandler {
    public struct Payload: Codable, Sendable {
        public var proxy: String
        public var listen: String
        public var rule: String
        public var owner: ProxyOwner
    }

    public static let kind = "proxy.remove"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard let proxy = context.services.service(FaultProxy.self, runID: context.runID, name: payload.proxy) else {
            return try payload.owner.absence(of: payload.proxy, listen: payload.listen)
        }
        proxy.remove(payload.rule)
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        guard let proxy = context.services.service(FaultProxy.self, runID: context.runID, name: payload.proxy) else {
            return try payload.owner.verifyAbsent(payload.proxy)
        }
        guard Poll.until(timeout: .seconds(2), every: .milliseconds(5), { proxy.isClean(of: payload.rule) }) else {
            throw VerificationFailure("proxy \(payload.proxy) still applies rule \(payload.rule) on some connection")
        }
    }
}

/// Undo kind `proxy.stop`: the setup record of a suite proxy. Stops it and closes its connections.
public enum ProxyStop: UndoHandler {
    public struct Payload: Codable, Sendable {
        public var proxy: String
        public var listen: String
        public var upstream: String
        public var owner: ProxyOwner
    }

    public static let kind = "proxy.stop"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        guard let proxy = context.services.remove(FaultProxy.self, runID: context.runID, name: payload.proxy) else {
            return try payload.owner.absence(of: payload.proxy, listen: payload.listen)
        }
        proxy.stop()
        guard !proxy.isListening else {
            throw VerificationFailure("proxy \(payload.proxy) still listens on \(payload.listen)")
        }
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        if context.services.service(FaultProxy.self, runID: context.runID, name: payload.proxy) != nil {
            throw VerificationFailure("proxy \(payload.proxy) is still running")
        }
        try payload.owner.verifyAbsent(payload.proxy)
    }
}
