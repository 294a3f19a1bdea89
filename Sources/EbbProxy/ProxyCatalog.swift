import EbbCore

extension PluginCatalog {
    /// Registers the proxy faults (`proxy.toxic`, `proxy.http`) with their undo, and `proxy.stop`,
    /// the undo of the `proxies:` section's setup records, which no plugin names.
    public mutating func registerProxies() {
        register(ProxyToxic.self)
        register(ProxyHTTP.self)
        register(undo: ProxyStop.self)
    }
}
