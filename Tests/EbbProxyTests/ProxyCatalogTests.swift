import EbbCore
import EbbProxy
import Testing

/// `registerProxies()` registers the proxy faults with the undo kinds their records and the
/// `proxies:` section's setup records name, under the kind strings old journals hold.
@Suite struct ProxyCatalogTests {
    /// The proxies' kinds written into journals; this list changes only by additions.
    static let journalKinds: Set<String> = ["proxy.stop", "proxy.remove"]

    @Test func theProxyFaultsAndEveryKindEarlierJournalsNameAreRegistered() {
        var catalog = PluginCatalog()
        catalog.registerProxies()
        #expect(Set(catalog.plugins.keys) == ["proxy.toxic", "proxy.http"])
        #expect(Self.journalKinds.isSubset(of: catalog.undoHandlers.keys))
    }
}
