import Foundation

/// A scenario suite: what to start, which faults to inject, and for how long.
public struct Suite: Sendable {
    /// The suite's name, used in report class names (`ebb.<suite>.<scenario>`).
    public var name: String
    /// The file the suite was read from.
    public var path: String
    /// Directories that file faults may touch; paths outside them are refused.
    public var allowedRoots: [String]
    /// Processes started before the scenarios and stopped after them.
    public var fixtures: [Fixture]
    /// Fault proxies run inside the runner, started before the fixtures and stopped after the
    /// scenarios (read by EbbFaults).
    public var proxies: [any SuiteProxy]
    /// Health checks and telemetry assertions (read and evaluated by EbbChecks); nil when the
    /// suite has none.
    public var checks: (any CheckPlan)?
    public var scenarios: [Scenario]
    /// The machines of `hosts:` that faults can act on over SSH.
    public var hosts: [RemoteHost] = []
    /// What runs faults on those hosts; nil when the suite has none.
    public var remote: (any RemoteFaultMaker)?

    /// What the suite's faults may know while they plan and inject.
    public var context: SuiteContext {
        SuiteContext(
            directory: URL(fileURLWithPath: path).deletingLastPathComponent(), allowedRoots: allowedRoots,
            fixtures: fixtures, proxyNames: proxies.map(\.name))
    }
}

/// A process the suite starts before its scenarios, e.g. the service under test.
public struct Fixture: Sendable {
    public var name: String
    /// The program and its arguments; a leading `ebb` means this very binary.
    public var command: [String]
    public var environment: [String: String]
    /// Where it runs: `directory` from the suite (relative to the suite file), else the suite's
    /// folder. On a host: the path as written (relative to the remote user's home), else that home.
    public var directory: String?
    public var readiness: Readiness?
    /// The host of `hosts:` it runs on (`host: NAME`); nil: the runner's machine.
    public var host: RemoteHost?
}

/// How to tell that a fixture is ready to serve.
public struct Readiness: Sendable {
    public enum Condition: Sendable, Equatable, Codable {
        /// An HTTP GET that answers 2xx.
        case http(URL)
        /// A TCP connect that succeeds, as `host:port`.
        case tcp(host: String, port: UInt16)
        /// A program that exits 0 (run in the fixture's directory), for what no connect from
        /// here can see, such as a service inside a network namespace.
        case command([String])
    }
    public var condition: Condition
    public var timeout: Duration
}

/// One experiment: faults injected together and held for a duration.
public struct Scenario: Sendable {
    public var name: String
    public var faults: [FaultSpec]
    public var duration: Duration
    public var waitBefore: Duration
    public var waitAfter: Duration
    /// The suite checks this scenario is watched by (nil: every one).
    public var checks: [String]?
}

/// One fault of a scenario, as configured by the suite.
public struct FaultSpec: Sendable {
    /// The name reports use: the plugin id, or the `name` the suite gave it.
    public var name: String
    public var pluginID: String
    /// The parameters exactly as written, for reports and dry runs.
    public var parameters: JSONValue
    /// The configured fault, ready to plan and inject.
    public var fault: any Fault
}
