import EbbCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What a fault writes on its cgroup, as extended attributes: its expiry and its undo record
/// (kind and payload), so `ebb rollback sweep` can take it back when no journal or registry
/// record is left (see ``CgroupOrphanSweep``). cgroupfs keeps `trusted.*` attributes, which
/// only root can set, for as long as the group exists: the mark lives exactly as long as the
/// fault.
struct CgroupMark: Codable, Sendable, Equatable {
    var expires: Date
    var kind: String
    var data: JSONValue

    static let attribute = "trusted.ebb.fault"

    /// Writes the mark on `group` (replacing an earlier one).
    func write(on group: String, in hierarchy: CgroupHierarchy) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let value = try encoder.encode(self)
        let fd = try Self.open(group, in: hierarchy)
        defer { close(fd) }
        do { try ExtendedAttributes.set(Self.attribute, to: value, on: fd) } catch {
            throw FaultError(description: "cannot mark cgroup \(hierarchy.path(group)) with its expiry (\(error))")
        }
    }

    /// The mark on `group`, or nil when it has none (a group Ebb did not make, or made before marks).
    static func read(on group: String, in hierarchy: CgroupHierarchy) -> CgroupMark? {
        guard let fd = try? open(group, in: hierarchy) else { return nil }
        defer { close(fd) }
        guard let value = ExtendedAttributes.value(attribute, of: fd) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(CgroupMark.self, from: value)
    }

    private static func open(_ group: String, in hierarchy: CgroupHierarchy) throws -> Int32 {
        let fd = Glibc.open(hierarchy.path(group), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FaultError(description: systemError("open", hierarchy.path(group)).description) }
        return fd
    }

    /// Writes the mark of a fault just created, or moves its expiry to `expires` (the hold's
    /// start). A group already gone is left gone. Failing to mark is logged, not fatal: the
    /// journal and the registry still know the fault.
    static func mark(_ plan: FaultPlan, group: String, in hierarchy: CgroupHierarchy, expires: Date, logger: Logger) {
        guard hierarchy.exists(group) else { return }
        do {
            try CgroupMark(expires: expires, kind: plan.undoKind, data: plan.undoData).write(on: group, in: hierarchy)
        } catch {
            logger.warning("\(error); `ebb rollback sweep` can take this fault back only from a record")
        }
    }
}
