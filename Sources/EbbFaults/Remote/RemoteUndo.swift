import EbbCore
import Foundation

/// The runner's record of a fault on a remote host: takes it back through the host's own
/// journal (`ebb remote undo` over ssh). The host's guardian reverts it at its deadline on
/// its own, so an unreachable host is a failed undo (exit 2) until `ebb rollback execute`
/// reaches it and confirms.
public struct RemoteUndo: UndoHandler {
    public struct Payload: Codable, Sendable {
        public var host: RemoteHost
        /// The ebb binary on the host (relative to the remote user's home).
        public var executable: String
        /// The host's run: named after the runner's run and the host.
        public var runID: String
        public var sequence: Int
        public var plugin: String
    }

    public static let kind = "remote.fault"
    /// Acts on another machine, through this machine's ssh keys and configuration.
    public static var actsOnHost: Bool { true }

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        let outcome = try run(.undo, payload, context)
        switch outcome.state {
        case .undone: return .undone
        case .gone: return .gone(reason: outcome.detail)
        case .irreversible: return .irreversible(reason: "host \(payload.host.name): \(outcome.detail)")
        case .failed: throw FaultError(description: "host \(payload.host.name): \(outcome.detail)")
        }
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        let outcome = try run(.verify, payload, context)
        guard outcome.state == .undone else {
            throw VerificationFailure("host \(payload.host.name): \(outcome.detail)")
        }
    }

    private static func run(
        _ action: RemoteRecords.Action, _ payload: Payload, _ context: UndoContext
    ) throws -> RemoteRecordOutcome {
        // The runner's own rollback asks the agent it is connected to; if that agent is gone
        // (the link, the session), a fresh ssh session asks the host's journal.
        if let fleet = context.services.service(RemoteFleet.self, runID: context.runID, name: RemoteFleet.serviceName),
            let agent = fleet.liveAgent(payload.host, runID: context.runID),
            let reply = try? agent.send(
                AgentRequest(operation: .init(action), sequence: payload.sequence), timeout: .seconds(120)),
            let outcome = reply.outcome
        {
            return outcome
        }
        let ssh = SSHCommand(host: payload.host)
        let command =
            (payload.host.sudo ? "sudo -n " : "") + Shell.path(payload.executable)
            + " remote \(action.rawValue) --state-dir "
            + Shell.path(payload.host.stateDirectory) + " --run-id " + Shell.quoted(payload.runID)
            + " --sequence \(payload.sequence)"
        var result: (status: Int32, output: String)
        do {
            result = try ssh.run(command, timeout: .seconds(120))
        } catch let error as RemoteHostError {
            throw FaultError(
                description: "\(error); the host's guardian reverts the fault at its deadline on its own; "
                    + "confirm with 'ebb rollback execute' once the host can be reached")
        }
        // 127: the host lost its copy of ebb (a cleaned cache). This binary can stand in if it is the same build.
        if result.status == 127,
            (try? RemoteBinary.digest.get()).map(RemoteBinary.remotePath(digest:)) == payload.executable
        {
            _ = try RemoteBinary.ensure(on: ssh)
            result = try ssh.run(command, timeout: .seconds(120))
        }
        guard let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let outcome = try? JSONDecoder().decode(RemoteRecordOutcome.self, from: Data(line.utf8))
        else {
            throw FaultError(
                description:
                    "host \(payload.host.name): 'ebb remote \(action.rawValue)' failed (exit \(result.status)): "
                    + Excerpt.of(result.output.trimmingCharacters(in: .whitespacesAndNewlines), limit: 300))
        }
        return outcome
    }
}
