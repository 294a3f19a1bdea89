import EbbCore
import Foundation

/// A fault of the local catalog that acts on a remote host through its agent.
///
/// Order, as for every fault (ARCHITECTURE.md invariant 1): the runner's record is durable
/// here before the request leaves; the agent makes the host's own record durable before the
/// fault acts there. Either record alone can take the fault back.
struct RemoteFault: Fault {
    let host: RemoteHost
    let name: String
    let pluginID: String
    let parameters: JSONValue
    let suiteDirectory: String
    let allowedRoots: [String]
    let fleet: RemoteFleet

    func plan(_ context: FaultContext) throws -> FaultPlan {
        let executable = RemoteBinary.remotePath(digest: try RemoteBinary.digest.get())
        let payload = RemoteUndo.Payload(
            host: host, executable: executable, runID: RemoteFleet.remoteRunID(context.runID, host: host),
            sequence: context.sequence, plugin: pluginID)
        return try FaultPlan(
            target: "host \(host.name) (\(host.address)): \(pluginID)", undo: RemoteUndo.self, payload: payload,
            undoSummary:
                "take \(pluginID) back on host \(host.name) through its journal; the host's guardian does at the deadline if Ebb cannot reach it",
            lockKeys: [])
    }

    /// Connects (once per run and host) before the record is armed: a host that cannot be
    /// reached fails the fault with nothing armed and nothing injected.
    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws {
        _ = try fleet.agent(for: host, runID: context.runID)
        context.services.add(fleet, runID: context.runID, name: RemoteFleet.serviceName)
    }

    func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
        _ = try injectOnHost(context)
    }

    /// Asks the agent to arm and inject; its reply says what acted (and a fixture's pid there).
    func injectOnHost(_ context: FaultContext) throws -> AgentReply {
        let agent = try fleet.agent(for: host, runID: context.runID)
        let request = AgentRequest(
            operation: .inject, sequence: context.sequence, scenario: context.scenario, fault: name, plugin: pluginID,
            parameters: parameters, lifetime: max(1, context.deadline.timeIntervalSinceNow),
            suiteDirectory: suiteDirectory, allowedRoots: allowedRoots)
        let reply = try agent.send(request, timeout: fleet.requestTimeout)
        guard reply.ok else {
            throw FaultError(description: "host \(host.name): \(reply.error ?? "the agent refused")")
        }
        context.logger.info("host \(host.name): \(pluginID) acts on \(reply.target ?? "?")")
        return reply
    }

    /// A host that does not answer within a few seconds is given up for the run (its guardian
    /// keeps the fault's first deadline): one lost host must not hold back the others' hold.
    func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws {
        let agent = try fleet.agent(for: host, runID: context.runID)
        let reply = try agent.send(
            AgentRequest(
                operation: .renew, sequence: context.sequence, lifetime: max(1, context.deadline.timeIntervalSinceNow)),
            timeout: min(fleet.requestTimeout, .seconds(5)))
        guard reply.ok else {
            throw FaultError(description: "host \(host.name): \(reply.error ?? "the agent refused the renewal")")
        }
    }
}
