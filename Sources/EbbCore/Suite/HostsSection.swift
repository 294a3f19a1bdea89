import Foundation
import Yams

extension SuiteLoader {
    /// The keys of a host, each with its JSON Schema (`ebb schema`), so the two cannot drift apart.
    static let hostKeySchemas: KeyValuePairs<String, JSONValue> = [
        "name": ["type": "string", "pattern": "^[A-Za-z0-9._-]+$"],
        // The address rule of hosts(_:_:relativeTo:): no leading '-', no whitespace.
        "address": ["type": "string", "pattern": "^[^-\\s][^\\s]*$", "description": "what ssh connects to"],
        "user": ["type": "string"],
        "port": ["type": "integer", "minimum": 1, "maximum": 65_535],
        "identity": ["type": "string", "description": "a private key file (relative to the suite)"],
        "known_hosts": ["type": "string", "description": "a known_hosts file checked besides your own"],
        "sudo": ["type": "boolean", "description": "run Ebb on the host through sudo -n"],
        "labels": ["type": "object", "additionalProperties": ["type": "string"]],
        "ssh": [
            "type": "array", "items": ["type": "string"], "minItems": 1,
            "description": "the ssh command (default [ssh])",
        ],
        "options": [
            "type": "object", "additionalProperties": ["type": "string"], "description": "more ssh -o options",
        ],
        "state_dir": [
            "type": "string", "description": "the host's journal (default .cache/ebb/state in the remote home)",
        ],
    ]
    static let hostKeys = hostKeySchemas.map(\.key)

    /// The `hosts:` section: the machines faults may act on over SSH.
    func hosts(_ node: Node, _ reader: YAMLNodeReader, relativeTo directory: URL) throws -> [RemoteHost] {
        var hosts: [RemoteHost] = []
        for (index, item) in try reader.sequence(node, "hosts").enumerated() {
            let key = "hosts[\(index)]"
            let values = try reader.mapping(item, at: key, allowed: Self.hostKeys)
            guard let nameNode = values["name"] else {
                throw reader.error(item, "\(key).name", "a host needs a name (what faults select it by)")
            }
            let name = try reader.string(nameNode, "\(key).name")
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else {
                throw reader.error(
                    nameNode, "\(key).name", "'\(name)' is not a host name: use letters, digits, '.', '_' and '-'")
            }
            if hosts.contains(where: { $0.name == name }) {
                throw reader.error(nameNode, "\(key).name", "host name '\(name)' is used twice")
            }
            guard let addressNode = values["address"] else {
                throw reader.error(
                    item, "\(key).address",
                    "a host needs an address (a DNS name, an IP address or a Host of your ssh config)")
            }
            let address = try reader.string(addressNode, "\(key).address")
            // ssh would read a leading '-' as an option: an address must never smuggle one in.
            guard !address.isEmpty, !address.hasPrefix("-"), !address.contains(where: \.isWhitespace) else {
                throw reader.error(addressNode, "\(key).address", "'\(address)' is not an address")
            }
            func path(_ name: String) throws -> String? {
                try values[name].map {
                    URL(fileURLWithPath: try reader.string($0, "\(key).\(name)"), relativeTo: directory)
                        .standardizedFileURL.path
                }
            }
            var host = RemoteHost(name: name, address: address)
            host.user = try values["user"].map { try reader.string($0, "\(key).user") }
            host.port = try values["port"].map { try reader.integer($0, "\(key).port", in: 1...65_535) }
            host.identityFile = try path("identity")
            host.knownHostsFile = try path("known_hosts")
            host.sudo = try values["sudo"].map { try reader.boolean($0, "\(key).sudo") } ?? false
            if let labels = values["labels"] {
                for entry in try reader.entries(labels, at: "\(key).labels", allowed: nil) {
                    host.labels[entry.key] = try reader.string(entry.value, "\(key).labels.\(entry.key)")
                }
            }
            if let ssh = values["ssh"] {
                host.sshCommand = try reader.stringList(ssh, "\(key).ssh")
                guard !host.sshCommand.isEmpty else {
                    throw reader.error(ssh, "\(key).ssh", "the ssh command needs at least a program name")
                }
            }
            if let options = values["options"] {
                for entry in try reader.entries(options, at: "\(key).options", allowed: nil) {
                    let value = try reader.string(entry.value, "\(key).options.\(entry.key)")
                    if Self.unsafeSSHOptions.contains(entry.key.lowercased())
                        && ["no", "off", "accept-new"].contains(value.lowercased())
                    {
                        throw reader.error(
                            entry.value, "\(key).options.\(entry.key)",
                            "Ebb never turns host key checking off; give the host's key in 'known_hosts' instead")
                    }
                    host.options[entry.key] = value
                }
            }
            if let state = values["state_dir"] { host.stateDirectory = try reader.string(state, "\(key).state_dir") }
            hosts.append(host)
        }
        return hosts
    }

    static let unsafeSSHOptions: Set<String> = ["stricthostkeychecking"]
}

/// Which hosts a fault's `host:` or `hosts:` selects: one name, a list of names, or labels.
public enum HostSelection {
    /// The host `node` names (a check's `host:`); an unknown name is an error with a suggestion.
    public static func host(
        _ node: Node, key: String, among hosts: [RemoteHost], reader: YAMLNodeReader
    ) throws -> RemoteHost {
        let name = try reader.string(node, key)
        guard let host = hosts.first(where: { $0.name == name }) else {
            var message =
                hosts.isEmpty
                ? "no host is named '\(name)': the suite has no 'hosts:' section" : "no host is named '\(name)'"
            if let guess = Spelling.suggestion(for: name, among: hosts.map(\.name)) {
                message += "; did you mean '\(guess)'?"
            }
            throw reader.error(node, key, message)
        }
        return host
    }

    static func hosts(
        _ node: Node, key: String, among hosts: [RemoteHost], reader: YAMLNodeReader
    ) throws -> [RemoteHost] {
        func named(_ item: Node, _ itemKey: String) throws -> RemoteHost {
            try host(item, key: itemKey, among: hosts, reader: reader)
        }
        switch node {
        case .scalar:
            return [try named(node, key)]
        case .sequence:
            let items = try reader.sequence(node, key)
            guard !items.isEmpty else { throw reader.error(node, key, "select at least one host") }
            var selected: [RemoteHost] = []
            for (index, item) in items.enumerated() {
                let host = try named(item, "\(key)[\(index)]")
                if selected.contains(host) {
                    throw reader.error(item, "\(key)[\(index)]", "host '\(host.name)' is selected twice")
                }
                selected.append(host)
            }
            return selected
        case .mapping:
            var labels: [String: String] = [:]
            for entry in try reader.entries(node, at: key, allowed: nil) {
                labels[entry.key] = try reader.string(entry.value, "\(key).\(entry.key)")
            }
            let selected = hosts.filter { host in labels.allSatisfy { host.labels[$0.key] == $0.value } }
            guard !selected.isEmpty else {
                throw reader.error(
                    node, key,
                    "no host has the labels \(labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))"
                )
            }
            return selected
        default:
            throw reader.error(node, key, "give a host name, a list of names, or labels to match ({role: web})")
        }
    }
}
