import Foundation

/// A machine of the suite's `hosts:` that faults can act on over SSH.
///
/// Ebb connects with the user's own OpenSSH client, so `~/.ssh/config`, agents, `known_hosts`
/// and ProxyJump work as they do for the user; host keys are always checked. The record of a
/// remote fault keeps the whole host, so the undo can reach it from the journal alone.
public struct RemoteHost: Sendable, Codable, Equatable {
    /// The name faults select the host by (`host: web1`); letters, digits, `.`, `_` and `-`.
    public var name: String
    /// What ssh connects to: an address or a name from the user's ssh configuration.
    public var address: String
    public var user: String?
    public var port: Int?
    /// A private key file (`-i`); nil: the agent and the ssh configuration decide.
    public var identityFile: String?
    /// A known_hosts file to check the host key against, besides the user's own.
    public var knownHostsFile: String?
    /// Run Ebb on the host through `sudo -n` (the user must be allowed to without a password).
    public var sudo: Bool
    public var labels: [String: String]
    /// The ssh program and any wrapper before it (default `[ssh]`), e.g. `[ip, netns, exec, lab, ssh]`.
    public var sshCommand: [String]
    /// Extra `-o Name=value` options for ssh.
    public var options: [String: String]
    /// Where the host keeps its journal: absolute, or relative to the remote user's home.
    public var stateDirectory: String

    /// The remote journal's default place, inside the remote user's home.
    public static let defaultStateDirectory = ".cache/ebb/state"

    public init(
        name: String, address: String, user: String? = nil, port: Int? = nil, identityFile: String? = nil,
        knownHostsFile: String? = nil, sudo: Bool = false, labels: [String: String] = [:],
        sshCommand: [String] = ["ssh"],
        options: [String: String] = [:], stateDirectory: String = RemoteHost.defaultStateDirectory
    ) {
        self.name = name
        self.address = address
        self.user = user
        self.port = port
        self.identityFile = identityFile
        self.knownHostsFile = knownHostsFile
        self.sudo = sudo
        self.labels = labels
        self.sshCommand = sshCommand
        self.options = options
        self.stateDirectory = stateDirectory
    }
}

/// Builds the fault that acts on a remote host in place of a local one (EbbFaults provides it).
public protocol RemoteFaultMaker: Sendable {
    /// A fault that runs `spec` on `host` through Ebb's agent there. Throws a message for a
    /// fault that can only act on the runner's machine (a proxy, a fixture).
    func remote(_ spec: FaultSpec, on host: RemoteHost, suite: SuiteContext) throws -> any Fault
    /// A fault that starts `fixture` on `host` through Ebb's agent there, which journals it
    /// and whose guardian stops it if the runner or the link dies.
    func fixture(_ fixture: FixtureProcess, on host: RemoteHost) throws -> any RemoteFixture
    /// Ends the connections and agents of run `runID` (its remote journals close once every
    /// remote fault is reverted). The runner calls it when a suite is done.
    func endRun(_ runID: String)
}

/// A fixture started on a remote host (``RemoteFaultMaker/fixture(_:on:)``).
public protocol RemoteFixture: Fault {
    /// Starts the fixture (after its record is durable here and there) and returns its pid on the host.
    func start(_ plan: FaultPlan, _ context: FaultContext) throws -> Int32
    /// Probes `condition` on the host, where the fixture's addresses mean what the suite says;
    /// `.exited` once the fixture's processes are gone there.
    func probe(_ condition: Readiness.Condition, _ context: FaultContext) -> ReadinessAnswer
}
