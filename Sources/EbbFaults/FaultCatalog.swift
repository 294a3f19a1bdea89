import EbbCore

extension PluginCatalog {
    /// Every fault plugin and undo kind this module provides.
    public static var standard: PluginCatalog {
        var catalog = PluginCatalog()
        for plugin: any FaultPlugin.Type in [ProcessPause.self, ProcessKill.self, FileCorrupt.self, FileTruncate.self,
                                             FileRemove.self, FileReplace.self, DiskFill.self, CommandFault.self,
                                             HogCPU.self, HogMemory.self, HogIO.self, ProcessFreeze.self, ProcessThrottle.self,
                                             NetworkPartition.self, NetworkLoss.self, NetworkBandwidth.self, NetworkDelay.self,
                                             PodDelete.self, PodNetworkOutage.self, WorkloadScale.self, NodeCordon.self, ServiceHijack.self,
                                             ProxyToxic.self, ProxyHTTP.self] {
            catalog.register(plugin)
        }
        catalog.register(undo: ProcessResume.self)
        catalog.register(undo: ProcessRestart.self)
        catalog.register(undo: FileRestore.self)
        catalog.register(undo: FillRemove.self)
        catalog.register(undo: CommandRollback.self)
        catalog.register(undo: HogStop.self)
        catalog.register(undo: ProcessThaw.self)
        catalog.register(undo: ProcessUnthrottle.self)
        catalog.register(undo: NftTableDelete.self)
        catalog.register(undo: QdiscDelete.self)
        catalog.register(undo: DelayStop.self)
        catalog.register(undo: PodGone.self)
        catalog.register(undo: NetworkPolicyRemove.self)
        catalog.register(undo: ScaleRestore.self)
        catalog.register(undo: NodeUncordon.self)
        catalog.register(undo: SelectorRestore.self)
        catalog.register(undo: ProxyRuleRemoval.self)
        catalog.register(undo: ProxyStop.self)
        return catalog
    }
}
