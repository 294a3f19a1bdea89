import Synchronization

/// What runs keep alive inside the process that runs them (their suite proxies), by run id and
/// name. Faults reach them through ``FaultContext/services`` and undos through
/// ``UndoContext/services``; an undo executed by another process (the guardian, `ebb rollback
/// execute`) finds nothing here and decides from its record alone.
public final class LiveServices: Sendable {
    private struct Key: Hashable {
        var runID: String
        var name: String
    }

    private let services = Mutex<[Key: any Sendable]>([:])

    public init() {}

    /// The directory of this process's runs: what a context holds when its maker names no other.
    /// The runner and the rollback executor build their contexts without one, so the proxies the
    /// runner starts and the undos it executes meet here.
    public static let thisProcess = LiveServices()

    /// Keeps `service` as `name` of run `runID`, replacing any earlier one of that name.
    public func add(_ service: any Sendable, runID: String, name: String) {
        services.withLock { $0[Key(runID: runID, name: name)] = service }
    }

    /// The service `name` of run `runID`, if one of type `Service` is kept.
    public func service<Service>(_ type: Service.Type, runID: String, name: String) -> Service? {
        services.withLock { $0[Key(runID: runID, name: name)] } as? Service
    }

    /// Forgets the service and returns it, so the caller can stop it.
    public func remove<Service>(_ type: Service.Type, runID: String, name: String) -> Service? {
        services.withLock { $0.removeValue(forKey: Key(runID: runID, name: name)) } as? Service
    }
}
