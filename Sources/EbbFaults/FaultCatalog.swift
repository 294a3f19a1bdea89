import EbbCore

extension PluginCatalog {
    /// Every fault plugin this module provides, with the undo kinds their plans name.
    public static var standard: PluginCatalog {
        var catalog = PluginCatalog()
        for plugin: any FaultPlugin.Type in [ProcessPause.self, ProcessKill.self, FileCorrupt.self, FileTruncate.self,
                                             FileRemove.self, FileReplace.self, DiskFill.self, CommandFault.self,
                                             HogCPU.self, HogMemory.self, HogIO.self, ProcessFreeze.self, ProcessThrottle.self,
                                             NetworkPartition.self, NetworkLoss.self, NetworkBandwidth.self, NetworkDelay.self,
                                             PodDelete.self, PodNetworkOutage.self, WorkloadScale.self, NodeCordon.self, ServiceHijack.self,
                                             ProxyToxic.self, ProxyHTTP.self, InstanceStop.self, InstanceReboot.self] {
            catalog.register(plugin)
        }
        // register(plugin) registered each plugin's undo handlers. proxy.stop belongs to no plugin:
        // the proxies: section's setup records (and journals of earlier runs) name it, so it is
        // registered on its own; fixture.stop is registered by PluginCatalog itself.
        catalog.register(undo: ProxyStop.self)
        // A fault with `host:` runs any plugin above on another machine; its record is remote.fault.
        catalog.register(undo: RemoteUndo.self)
        catalog.register(undo: NothingToUndo.self)
        return catalog
    }
}
