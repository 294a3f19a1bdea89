import EbbCore
import Foundation
import Synchronization

/// Runs a suite's faults on its `hosts:`: one agent per host and run, started the first time
/// a fault of the run needs a host, for every host the suite's faults name at once and in
/// parallel (`forks` at a time), so a fleet costs one round of connections, not one per host.
public final class RemoteFleet: RemoteFaultMaker {
    /// How many hosts are connected to at once (`ebb run --forks`).
    public var forks: Int {
        get { state.withLock { $0.forks } }
        set { state.withLock { $0.forks = max(1, newValue) } }
    }
    /// How long a host may take to answer one request (an inject, a renewal).
    public let requestTimeout: Duration
    private let state = Mutex<State>(State())
    /// Held while a run's hosts are being connected to.
    private let connecting = Mutex(())

    private struct State {
        var forks = 10
        /// Hosts the loaded suites' faults act on, by name.
        var hosts: [String: RemoteHost] = [:]
        /// Each run's agents, or why a host could not be reached.
        var agents: [String: [String: Result<AgentConnection, RemoteHostError>]] = [:]
    }

    public init(forks: Int = 10, requestTimeout: Duration = .seconds(60)) {
        self.requestTimeout = requestTimeout
        self.forks = forks
    }

    public func remote(_ spec: FaultSpec, on host: RemoteHost, suite: SuiteContext) throws -> any Fault {
        if spec.pluginID.hasPrefix("proxy.") {
            throw FaultError(
                description: "\(spec.pluginID) acts on a proxy inside the runner; it cannot run on host \(host.name)")
        }
        if case .object(let parameters) = spec.parameters, parameters["fixture"] != nil {
            throw FaultError(
                description:
                    "a fault on host \(host.name) cannot target a fixture by name (only the runner knows its fixtures' pids); "
                    + "select the processes there with 'match' instead")
        }
        state.withLock { $0.hosts[host.name] = host }
        return RemoteFault(
            host: host, name: spec.name, pluginID: spec.pluginID, parameters: spec.parameters,
            suiteDirectory: suite.directory.path, allowedRoots: suite.allowedRoots, fleet: self)
    }

    public func fixture(_ fixture: FixtureProcess, on host: RemoteHost) throws -> any RemoteFixture {
        state.withLock { $0.hosts[host.name] = host }
        return try FixtureOnHost(fixture, on: host, fleet: self)
    }

    /// The agent of `host` for run `runID`, connecting to every known host first if this run
    /// has none yet. Throws the host's own failure, which every fault on it reports.
    func agent(for host: RemoteHost, runID: String) throws -> AgentConnection {
        if let known = state.withLock({ $0.agents[runID]?[host.name] }) { return try known.get() }
        // One connecting round per run: the faults of a scenario are prepared at once, and
        // each would otherwise start its own round to every host.
        return try connecting.withLock { _ in
            let (known, hosts) = state.withLock { ($0.agents[runID], Array($0.hosts.values)) }
            if known == nil { connect(hosts.sorted { $0.name < $1.name }, runID: runID) }
            return state.withLock { $0.agents[runID]?[host.name] } ?? connectOne(host, runID: runID)
        }.get()
    }

    private func connect(_ hosts: [RemoteHost], runID: String) {
        state.withLock { state in if state.agents[runID] == nil { state.agents[runID] = [:] } }
        // Threads, not concurrentPerform: that runs one item per core, and each item here mostly
        // waits for a network round trip.
        _ = Forks.map(hosts.count, limit: forks) { index in
            _ = self.connectOne(hosts[index], runID: runID)
        }
    }

    private func connectOne(_ host: RemoteHost, runID: String) -> Result<AgentConnection, RemoteHostError> {
        if let existing = state.withLock({ $0.agents[runID]?[host.name] }) { return existing }
        let result: Result<AgentConnection, RemoteHostError>
        do {
            let executable = try RemoteBinary.ensure(on: SSHCommand(host: host))
            result = .success(
                try AgentConnection(
                    host: host, runID: Self.remoteRunID(runID, host: host), executable: executable,
                    timeout: requestTimeout))
        } catch let error as RemoteHostError {
            result = .failure(error)
        } catch {
            result = .failure(RemoteHostError(host: host, problem: "\(error)"))
        }
        return state.withLock { state in
            if let raced = state.agents[runID]?[host.name] {
                if case .success(let extra) = result { extra.finish() }
                return raced
            }
            state.agents[runID, default: [:]][host.name] = result
            return result
        }
    }

    /// The name the fleet is kept under in a run's ``LiveServices``, so the runner's own undos
    /// reach the agents it talks to (the guardian and `ebb rollback execute` find none and use ssh).
    static let serviceName = "remote hosts"

    /// The connected agent of `host` in run `runID`, unless the run ended or the host was lost.
    func liveAgent(_ host: RemoteHost, runID: String) -> AgentConnection? {
        guard case .success(let agent) = state.withLock({ $0.agents[runID]?[host.name] }), !agent.isLost else {
            return nil
        }
        return agent
    }

    public func endRun(_ runID: String) {
        let agents = state.withLock { $0.agents.removeValue(forKey: runID) } ?? [:]
        let connected = agents.values.compactMap { try? $0.get() }
        // The shared ssh connections go too: nothing of this run is left behind on a host.
        _ = Forks.map(connected.count, limit: forks) { index in
            connected[index].finish()
            SSHCommand(host: connected[index].host).closeMaster()
        }
    }

    /// The host's run is named after the runner's, so the runner's record can name it before
    /// the host's journal exists.
    static func remoteRunID(_ runID: String, host: RemoteHost) -> String { "\(runID)-\(host.name)" }
}
