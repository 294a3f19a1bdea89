import EbbCore
import Foundation
import Testing

@testable import EbbFaults

/// The standard catalog registers every undo kind a plugin's plans can name, under the kind
/// strings old journals hold.
@Suite struct PluginCatalogTests {
    let catalog = PluginCatalog.standard

    /// The kinds written into journals. A rename breaks the records of earlier runs, so this
    /// list changes only by additions. (The proxies' kinds, `proxy.stop` and `proxy.remove`,
    /// are EbbProxy's: `ProxyCatalogTests` guards them.)
    static let journalKinds: Set<String> = [
        "fixture.stop",
        "process.resume", "process.restart", "process.thaw", "process.unthrottle",
        "file.restore", "disk.fill-remove", "command.rollback", "hog.stop",
        "network.nft-delete", "network.qdisc-delete", "network.delay-stop",
        "k8s.pod-delete", "k8s.networkpolicy-delete", "k8s.scale-restore", "k8s.node-uncordon", "k8s.service-restore",
    ]

    @Test func everyPluginsUndoKindsAreRegistered() throws {
        for plugin in catalog.sortedPlugins {
            #expect(!plugin.undoHandlers.isEmpty, "\(plugin.id) names no undo handler")
            for handler in plugin.undoHandlers {
                let registered = try #require(
                    catalog.undoHandlers[handler.kind], "\(plugin.id): undo kind \(handler.kind) is not registered")
                #expect(registered.kind == handler.kind)
                #expect(registered.actsOnHost == handler.actsOnHost, "\(handler.kind)")
            }
        }
    }

    @Test func everyKindEarlierJournalsNameIsStillRegistered() {
        // A renamed or dropped kind would leave earlier runs' records unexecutable; a new
        // plugin's kind needs no entry here (add it once a release has written it).
        #expect(Self.journalKinds.subtracting(catalog.undoHandlers.keys).isEmpty)
        // Kinds no plugin names are registered on purpose only: the setup records' and those of
        // faults on remote hosts (any plugin's, run there).
        let fromPlugins = Set(catalog.plugins.values.flatMap { $0.undoHandlers.map { $0.kind } })
        #expect(
            Set(catalog.undoHandlers.keys).subtracting(fromPlugins) == [
                "fixture.stop", "remote.fault", "remote.nothing",
            ])
    }

    /// A record of each registered kind, written and read back as the journal does, finds the
    /// handler it was armed with.
    @Test func everyRegisteredKindRoundTrips() throws {
        for (kind, handler) in catalog.undoHandlers {
            #expect(handler.kind == kind)
            let record = UndoRecord(
                runID: "r", sequence: 1, scenario: "s", fault: "f", plugin: "p", target: "t",
                kind: kind, data: .null, state: .armed, armedAt: Date(), deadline: Date())
            let read = try JSONDecoder().decode(UndoRecord.self, from: JSONEncoder().encode(record))
            #expect(catalog.undoHandlers[read.kind]?.kind == kind)
        }
    }

    @Test func typedPlanTakesItsKindFromTheHandler() throws {
        let plan = try FaultPlan(
            target: "fixture a", undo: ProcessResume.self, payload: ProcessResume.Payload(targets: []),
            undoSummary: "SIGCONT fixture a")
        #expect(plan.undoKind == "process.resume")
    }
}
