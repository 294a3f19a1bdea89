import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which packets a network fault acts on, written the way a packet looks: `destination`,
/// `source`, `port` (destination port), `source_port`, `protocol`, and the `direction` in which
/// it crosses the namespace. Fields left out match anything; everything given must match.
struct PacketMatch: Codable, Sendable, Equatable {
    enum Direction: String, Codable, Sendable, CaseIterable {
        case ingress, egress, both
    }

    enum TransportProtocol: String, Codable, Sendable, CaseIterable {
        case tcp, udp, icmp, all
    }

    var direction: Direction
    var transport: TransportProtocol
    var source: Address?
    var destination: Address?
    var port: Int?
    var sourcePort: Int?

    static func parameters(defaultDirection: Direction) -> [ParameterSpec] {
        [
            ParameterSpec(
                "direction", .string,
                "ingress, egress or both (default \(defaultDirection.rawValue)): packets entering or leaving the namespace"
            ),
            ParameterSpec("protocol", .string, "tcp, udp, icmp or all (default all; tcp when a port is given)"),
            ParameterSpec("destination", .string, "destination address or CIDR (IPv4 or IPv6)"),
            ParameterSpec("source", .string, "source address or CIDR"),
            ParameterSpec("port", .integer, "destination port (tcp or udp)"),
            ParameterSpec("source_port", .integer, "source port (tcp or udp)"),
        ]
    }

    init(
        direction: Direction, transport: TransportProtocol = .all, source: Address? = nil, destination: Address? = nil,
        port: Int? = nil, sourcePort: Int? = nil
    ) {
        self.direction = direction
        self.transport = transport
        self.source = source
        self.destination = destination
        self.port = port
        self.sourcePort = sourcePort
    }

    init(_ parameters: FaultParameters, defaultDirection: Direction) throws {
        let directionText = try parameters.string("direction") ?? defaultDirection.rawValue
        guard let direction = Direction(rawValue: directionText) else {
            throw parameters.error("direction", "'\(directionText)' is not a direction; use ingress, egress or both")
        }
        self.direction = direction
        source = try Self.address(parameters, "source")
        destination = try Self.address(parameters, "destination")
        if let source, let destination, source.isIPv6 != destination.isIPv6 {
            throw parameters.error("destination", "source and destination must both be IPv4 or both IPv6")
        }
        port = try Self.port(parameters, "port")
        sourcePort = try Self.port(parameters, "source_port")
        let protocolText = try parameters.string("protocol") ?? (port == nil && sourcePort == nil ? "all" : "tcp")
        guard let transport = TransportProtocol(rawValue: protocolText) else {
            throw parameters.error("protocol", "'\(protocolText)' is not a protocol; use tcp, udp, icmp or all")
        }
        if (port != nil || sourcePort != nil) && !(transport == .tcp || transport == .udp) {
            throw parameters.error("protocol", "ports need protocol tcp or udp")
        }
        self.transport = transport
    }

    /// The hooks the match applies to: `input` for ingress, `output` for egress.
    var directions: [Direction] { direction == .both ? [.ingress, .egress] : [direction] }

    /// Whether the match can only be IPv6 (an IPv6 address was given) or only IPv4.
    var family: Address.Family? { (source ?? destination)?.family }

    /// For messages: `tcp to 10.0.0.1 port 80, egress`.
    var label: String {
        var parts = [transport == .all ? "all traffic" : transport.rawValue]
        if let source { parts.append("from \(source.text)") }
        if let sourcePort { parts.append("source port \(sourcePort)") }
        if let destination { parts.append("to \(destination.text)") }
        if let port { parts.append("port \(port)") }
        return parts.joined(separator: " ") + ", " + direction.rawValue
    }

    /// The match as an nft expression for an `inet` table (empty when it matches everything).
    var nftExpression: String {
        var parts: [String] = []
        let ipKeyword = family == .ipv6 ? "ip6" : "ip"
        if let source { parts.append("\(ipKeyword) saddr \(source.text)") }
        if let destination { parts.append("\(ipKeyword) daddr \(destination.text)") }
        switch transport {
        case .all: break
        case .icmp:
            parts.append(
                family == .ipv6
                    ? "meta l4proto ipv6-icmp"
                    : family == .ipv4 ? "meta l4proto icmp" : "meta l4proto { icmp, ipv6-icmp }")
        case .tcp, .udp:
            parts.append("meta l4proto \(transport.rawValue)")
            if let sourcePort { parts.append("th sport \(sourcePort)") }
            if let port { parts.append("th dport \(port)") }
        }
        return parts.joined(separator: " ")
    }

    /// The match as iptables arguments (for the family `iptables` or `ip6tables` serves).
    func iptablesArguments(ipv6: Bool) -> [String] {
        var arguments: [String] = []
        switch transport {
        case .all: break
        case .icmp: arguments += ["-p", ipv6 ? "ipv6-icmp" : "icmp"]
        case .tcp, .udp: arguments += ["-p", transport.rawValue]
        }
        if let source { arguments += ["-s", source.text] }
        if let destination { arguments += ["-d", destination.text] }
        if let sourcePort { arguments += ["--sport", String(sourcePort)] }
        if let port { arguments += ["--dport", String(port)] }
        return arguments
    }

    private static func address(_ parameters: FaultParameters, _ name: String) throws -> Address? {
        guard let text = try parameters.string(name) else { return nil }
        guard let address = Address(text) else {
            throw parameters.error(name, "'\(text)' is not an IP address or CIDR (e.g. 10.0.0.2 or 10.0.0.0/24)")
        }
        return address
    }

    private static func port(_ parameters: FaultParameters, _ name: String) throws -> Int? {
        guard let port = try parameters.integer(name) else { return nil }
        guard (1...65535).contains(port) else { throw parameters.error(name, "a port is from 1 to 65535") }
        return port
    }
}

/// An IPv4 or IPv6 address, optionally with a prefix length; checked with inet_pton so that
/// nothing but an address ever reaches nft or iptables.
struct Address: Codable, Sendable, Equatable {
    enum Family: String, Codable, Sendable {
        case ipv4, ipv6
    }

    var text: String
    var family: Family
    var isIPv6: Bool { family == .ipv6 }

    init?(_ text: String) {
        let pieces = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(pieces[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, host, &buffer) == 1 {
            family = .ipv4
        } else if inet_pton(AF_INET6, host, &buffer) == 1 {
            family = .ipv6
        } else {
            return nil
        }
        if pieces.count == 2 {
            guard pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }), let prefix = Int(pieces[1]),
                (0...(family == .ipv4 ? 32 : 128)).contains(prefix)
            else { return nil }
        }
        self.text = text
    }
}
