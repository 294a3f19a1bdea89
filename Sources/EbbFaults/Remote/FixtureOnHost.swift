import EbbCore
import Foundation

/// A fixture of `setup:` with `host: NAME`. The host's agent arms and starts it as the runner
/// starts its own (``FixtureProcess``): its record is durable on both sides first, and the
/// host's guardian stops it if the runner or the link dies. Readiness is probed on the host,
/// where `127.0.0.1` and the fixture's paths mean what the suite says.
struct FixtureOnHost: RemoteFixture {
    let remote: RemoteFault

    init(_ process: FixtureProcess, on host: RemoteHost, fleet: RemoteFleet) throws {
        remote = RemoteFault(
            host: host, name: "fixture \(process.name)", pluginID: FixtureProcess.plugin,
            parameters: try JSONValue(encoding: process),
            suiteDirectory: process.directory ?? "", allowedRoots: [], fleet: fleet)
    }

    func plan(_ context: FaultContext) throws -> FaultPlan {
        var plan = try remote.plan(context)
        plan.undoSummary =
            "stop fixture \(remote.name.dropFirst("fixture ".count)) on host \(remote.host.name) through its journal; "
            + "the host's guardian does at the deadline if Ebb cannot reach it"
        return plan
    }

    func prepare(_ plan: FaultPlan, _ context: FaultContext) throws { try remote.prepare(plan, context) }

    func inject(_ plan: FaultPlan, _ context: FaultContext) throws { _ = try start(plan, context) }

    func start(_ plan: FaultPlan, _ context: FaultContext) throws -> Int32 {
        guard let pid = try remote.injectOnHost(context).pid else {
            throw FaultError(description: "host \(remote.host.name): \(remote.name) started without a pid")
        }
        return pid
    }

    /// Renews the fixture's deadline on the host.
    func holdStarting(_ plan: FaultPlan, _ context: FaultContext) throws { try remote.holdStarting(plan, context) }

    func probe(_ condition: Readiness.Condition, _ context: FaultContext) -> ReadinessAnswer {
        do {
            let agent = try remote.fleet.agent(for: remote.host, runID: context.runID)
            // A probe takes at most a few seconds on the host (an HTTP request, a 5 s command).
            let reply = try agent.send(
                AgentRequest(operation: .probe, sequence: context.sequence, readiness: condition), timeout: .seconds(15)
            )
            return reply.readiness ?? .notReady("host \(remote.host.name): \(reply.error ?? "no answer to the probe")")
        } catch {
            return .notReady("\(error)")
        }
    }
}
