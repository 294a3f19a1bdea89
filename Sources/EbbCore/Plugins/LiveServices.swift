import Synchronization

/// What runs keep alive inside the process that runs them (their suite proxies, their remote
/// hosts' agents), by run id and name. The process that runs suites makes one and hands it to
/// what starts the services (the proxies' reader) and to the runner, whose faults reach them
/// through ``FaultContext/services`` and whose undos through ``UndoContext/services``. An undo
/// executed elsewhere (the guardian, `ebb rollback execute`) gets an empty one and decides from
/// its record alone.
public final class LiveServices: Sendable {
    private struct Key: Hashable {
        var runID: String
        var name: String
    }

    private let services = Mutex<[Key: any Sendable]>([:])

    public init() {}

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
