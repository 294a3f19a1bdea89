import Foundation
import Logging
import Yams

/// Reads a suite's `proxies:` section. EbbFaults implements it, so that Core knows nothing of
/// sockets or event loops.
public protocol ProxySectionReader: Sendable {
    /// Reads the section and throws ``SuiteError`` or ``SuiteErrors`` naming file, line,
    /// column and key for every problem.
    func read(_ node: Node, reader: YAMLNodeReader) throws -> [any SuiteProxy]
    /// The JSON Schema of the `proxies:` list, part of `ebb schema`.
    var schema: JSONValue { get }
}

/// A proxy the suite runs inside the runner process, from before its fixtures start until after
/// its last scenario. Its start is armed in the journal like a fixture's, so a crash report names it.
public protocol SuiteProxy: Sendable {
    var name: String { get }
    /// One line for `ebb run --dry-run`: `api 127.0.0.1:18080 -> 127.0.0.1:8080`.
    var outline: String { get }
    /// The setup record that stops the proxy, decided before it listens.
    func plan(runID: String) throws -> FaultPlan
    /// Starts listening; runs only after the plan's record is durable.
    func start(_ plan: FaultPlan, runID: String, logger: Logger) throws
}
