import EbbCore
import Foundation

/// An interface's root qdisc, as `tc -j qdisc show` reports it.
struct RootQdisc: Decodable, Equatable {
    var kind: String
    /// `0:` for the kernel's default root qdisc, `ebb1:` style for one that someone added.
    var handle: String

    /// Whether the kernel put this qdisc there (nobody added one): handle 0, or no root at all.
    var isDefault: Bool { handle == "0:" }

    /// The interface's root qdisc; nil when the interface has none listed (a down loopback).
    static func of(_ interface: String, in namespace: NetworkNamespace) throws -> RootQdisc? {
        guard let output = try namespace.query(["tc", "-j", "qdisc", "show", "dev", interface, "root"]) else {
            throw FaultError(description: "interface \(interface) does not exist in \(namespace.label)")
        }
        struct Entry: Decodable {
            var kind: String
            var handle: String
            var root: Bool?
        }
        let entries = try JSONDecoder().decode([Entry].self, from: Data(output.utf8))
        return entries.first { $0.root == true }.map { RootQdisc(kind: $0.kind, handle: $0.handle) }
    }
}

/// A root qdisc that one fault added under a handle of its own (`tbf` for bandwidth, `netem`
/// for delay), and how to take it away again.
struct OwnedRootQdisc: Codable, Sendable, Equatable {
    var namespace: NetworkNamespace
    var interface: String
    var kind: String
    /// `e1a2:`: derived from the run id and sequence, so two faults never share one.
    var handle: String

    init(namespace: NetworkNamespace, interface: String, kind: String, runID: String, sequence: Int) {
        self.namespace = namespace
        self.interface = interface
        self.kind = kind
        // Handles are 16-bit; 0xe000-0xefff keeps ours recognisable in `tc qdisc show`.
        handle = String(0xe000 | (FaultHash.of(runID: runID, sequence: sequence) & 0x0fff), radix: 16) + ":"
    }

    var label: String { "\(kind) qdisc \(handle) on \(interface) in \(namespace.label)" }

    /// Refuses unless the interface exists and its root qdisc is the kernel's default.
    func requireDefaultRoot() throws {
        try SystemTool.requireInstalled("tc")
        try namespace.requireExists()
        guard try interfaceExists() else {
            throw FaultError(description: "interface \(interface) does not exist in \(namespace.label)")
        }
        if let root = try RootQdisc.of(interface, in: namespace), !root.isDefault {
            throw FaultError(
                description:
                    "\(interface) in \(namespace.label) already has a root qdisc \(root.kind) \(root.handle) that Ebb did not add; refusing to replace it"
            )
        }
    }

    /// Whether the interface (and its namespace) still exist; failing to look throws.
    func interfaceExists() throws -> Bool {
        if namespace.isGone { return false }
        return try namespace.query(["ip", "link", "show", "dev", interface]) != nil
    }

    /// Adds the qdisc. `tc qdisc add` (not `replace`) fails when a non-default root appeared
    /// meanwhile, so a foreign qdisc is never overwritten.
    func add(_ options: [String]) throws {
        try namespace.run(["tc", "qdisc", "add", "dev", interface, "root", "handle", handle, kind] + options)
    }
}

/// Undo kind `network.qdisc-delete`: deletes the fault's root qdisc, but only while the root is
/// still the one it added (same handle and kind), and verifies that the root is no longer ours.
public enum QdiscDelete: UndoHandler {
    public struct Payload: Codable, Sendable {
        var qdisc: OwnedRootQdisc
        /// The nft table carrying the fault's expiry (see ``NftTable/createMarker(expires:scriptPath:)``);
        /// nil where nft is not installed, and in records from before markers.
        var expiryTable: NftTable?
    }

    public static let kind = "network.qdisc-delete"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let qdisc = payload.qdisc
        // A gone interface took the qdisc with it; a default root means it is deleted already.
        if try qdisc.interfaceExists(), let root = try RootQdisc.of(qdisc.interface, in: qdisc.namespace),
            !root.isDefault
        {
            guard root.handle == qdisc.handle, root.kind == qdisc.kind else {
                throw VerificationFailure(
                    "the root qdisc of \(qdisc.interface) in \(qdisc.namespace.label) is now \(root.kind) \(root.handle), not Ebb's \(qdisc.kind) \(qdisc.handle); left alone"
                )
            }
            try qdisc.namespace.run(["tc", "qdisc", "del", "dev", qdisc.interface, "root", "handle", qdisc.handle])
        }
        try payload.expiryTable?.deleteIfOurs()
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let qdisc = payload.qdisc
        if let table = payload.expiryTable, try table.listing() != nil {
            throw VerificationFailure("\(table.label) (its expiry marker) still exists")
        }
        guard try qdisc.interfaceExists() else { return }
        if let root = try RootQdisc.of(qdisc.interface, in: qdisc.namespace), root.handle == qdisc.handle {
            throw VerificationFailure("\(qdisc.label) is still the root qdisc")
        }
    }
}
