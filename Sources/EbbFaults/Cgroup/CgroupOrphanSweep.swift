import EbbCore
import Foundation

/// Finds the cgroups Ebb made (`/ebb-<run>-<seq>` at the root of the CPU and freezer
/// hierarchies) whose mark (see ``CgroupMark``) says their expiry has passed, and turns each
/// into the record its mark carries, for the sweep to execute with the fault's own undo and
/// verification: what `ebb rollback sweep` does when no record of the fault is left anywhere.
/// A group without a mark, or whose mark names another group or an undo that is not a cgroup
/// one, is never touched.
public enum CgroupOrphanSweep {
    /// The undo kinds a mark may carry: the cgroup faults' own.
    static let kinds: Set<String> = [ProcessThaw.kind, ProcessUnthrottle.kind]

    /// Records for the expired groups of runs not in `liveRuns`.
    public static func expired(now: Date = Date(), liveRuns: Set<String> = []) -> [UndoRecord] {
        var hierarchies: [CgroupHierarchy] = []
        for hierarchy in [CgroupHierarchy.cpu(), CgroupHierarchy.freezer()].compactMap({ $0 })
        where !hierarchies.contains(where: { $0.root == hierarchy.root }) {
            hierarchies.append(hierarchy)
        }
        var records: [UndoRecord] = []
        for hierarchy in hierarchies {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: hierarchy.root)) ?? []
            for name in names.sorted() where name.hasPrefix("ebb-") {
                let parts = name.split(separator: "-")
                let group = "/\(name)"
                guard parts.count == 3, SweepMark.isRunID(String(parts[1])), let sequence = Int(parts[2]),
                    !liveRuns.contains(String(parts[1])),
                    let mark = CgroupMark.read(on: group, in: hierarchy), mark.expires < now,
                    kinds.contains(mark.kind), isAbout(group, in: hierarchy, mark)
                else { continue }
                var record = UndoRecord(
                    runID: String(parts[1]), sequence: sequence, scenario: "no record", fault: "cgroup \(name)",
                    plugin: mark.kind == ProcessThaw.kind ? ProcessFreeze.id : ProcessThrottle.id,
                    target: hierarchy.path(group), kind: mark.kind, data: mark.data, state: .injected,
                    armedAt: mark.expires, deadline: mark.expires)
                record.message = "found by name and mark after its expiry, with no record left"
                records.append(record)
            }
        }
        return records
    }

    /// Whether the mark's payload is about `group` in `hierarchy` itself: a mark copied onto
    /// another group must not make the sweep act on what that payload names.
    private static func isAbout(_ group: String, in hierarchy: CgroupHierarchy, _ mark: CgroupMark) -> Bool {
        struct Named: Decodable {
            var group: String
            var hierarchy: CgroupHierarchy?  // process.unthrottle
            var freezer: CgroupHierarchy?  // process.thaw
        }
        guard let named = try? mark.data.decode(Named.self) else { return false }
        return named.group == group && (named.hierarchy ?? named.freezer)?.root == hierarchy.root
    }
}
