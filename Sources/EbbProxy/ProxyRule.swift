import Foundation

/// Which way data flows through a proxy: `upstream` from the client to the dependency,
/// `downstream` back from the dependency to the client.
public enum ProxyDirection: String, Sendable, CaseIterable {
    case upstream, downstream
}

/// An HTTP/1.1 fault: what happens to requests whose method and path match.
public struct HTTPRule: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// The proxy answers itself with this status and body; the dependency never sees the request.
        case status(Int, body: String)
        /// The request reaches the dependency this much later.
        case latency(Duration)
        /// The client's connection is reset when the request arrives.
        case abort
    }

    /// Matches every method when nil; compared without regard to case.
    public var method: String?
    /// Matches every path when nil; otherwise a prefix of the request's path.
    public var pathPrefix: String?
    public var action: Action

    public init(method: String?, pathPrefix: String?, action: Action) {
        self.method = method
        self.pathPrefix = pathPrefix
        self.action = action
    }

    func matches(method: String, path: String) -> Bool {
        (self.method.map { $0.caseInsensitiveCompare(method) == .orderedSame } ?? true)
            && (pathPrefix.map { path.hasPrefix($0) } ?? true)
    }
}

/// One fault applied by a running proxy, from its injection until its undo or deadline.
public struct ProxyRule: Sendable {
    public enum Effect: Sendable {
        case toxic(any Toxic, ProxyDirection)
        case http(HTTPRule)
    }

    /// `<run id>/<sequence>`: unique within the process, and the key its undo removes it by.
    public var id: String
    public var effect: Effect
    /// The share of connections (toxics) or requests (HTTP rules) affected, 0...1.
    public var share: Double

    public init(id: String, effect: Effect, share: Double) {
        self.id = id
        self.effect = effect
        self.share = share
    }
}
