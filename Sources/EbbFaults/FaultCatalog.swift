import EbbCore

extension PluginCatalog {
    /// Every fault plugin this module provides, with the undo kinds their plans name.
    public static var standard: PluginCatalog {
        var catalog = PluginCatalog()
        for plugin: any FaultPlugin.Type in [
            ProcessPause.self, ProcessKill.self, FileCorrupt.self, FileTruncate.self,
            FileRemove.self, FileReplace.self, FileChmod.self, DiskFill.self, CommandFault.self,
            HogCPU.self, HogMemory.self, HogIO.self, ProcessFreeze.self, ProcessThrottle.self,
            NetworkPartition.self, NetworkLoss.self, NetworkBandwidth.self, NetworkDelay.self,
            PodDelete.self, PodNetworkOutage.self, WorkloadScale.self, NodeCordon.self, ServiceHijack.self,
            InstanceStop.self, InstanceReboot.self,
        ] {
            catalog.register(plugin)
        }
        // register(plugin) registered each plugin's undo handlers; fixture.stop is registered by
        // PluginCatalog itself. The proxy faults are EbbProxy's (`registerProxies()`).
        // A fault with `host:` runs any plugin above on another machine; its record is remote.fault.
        catalog.register(undo: RemoteUndo.self)
        catalog.register(undo: NothingToUndo.self)
        return catalog
    }
}
