import EbbCore
import Foundation

/// `command`: runs the suite author's own inject and rollback commands. An escape hatch: Ebb
/// cannot prove such a fault is gone beyond the optional `verify` command, and trusts the suite.
public enum CommandFault: FaultPlugin {
    public static let id = "command"
    public static var undoHandlers: [any UndoHandler.Type] { [CommandRollback.self] }
    public static let summary =
        "run your own inject/rollback commands (trusts the suite author; rollback must be idempotent)"
    public static let parameters = [
        ParameterSpec("inject", .argv, required: true, "the command that injects the fault"),
        ParameterSpec(
            "rollback", .argv, required: true,
            "the command that takes it back; must succeed when run twice or before inject"),
        ParameterSpec("verify", .argv, "a command that exits 0 only when the fault is gone"),
        ParameterSpec("timeout", .duration, "limit for each command (default 60s)"),
    ]

    public static func make(_ parameters: FaultParameters, suite: SuiteContext) throws -> any Fault {
        let payload = CommandRollback.Payload(
            rollback: try parameters.argv("rollback")!, verify: try parameters.argv("verify"),
            directory: suite.directory.path,
            timeoutSeconds: (try parameters.duration("timeout") ?? .seconds(60)).seconds)
        return ShellFault(inject: try parameters.argv("inject")!, payload: payload)
    }

    struct ShellFault: Fault {
        let inject: [String]
        let payload: CommandRollback.Payload

        func plan(_ context: FaultContext) throws -> FaultPlan {
            try FaultPlan(
                target: inject.joined(separator: " "), undo: CommandRollback.self, payload: payload,
                undoSummary: "run \(payload.rollback.joined(separator: " "))"
                    + (payload.verify.map { ", verify with \($0.joined(separator: " "))" } ?? ""))
        }

        func inject(_ plan: FaultPlan, _ context: FaultContext) throws {
            try CommandRollback.run(inject, payload, what: "inject")
        }
    }
}

/// Undo kind `command.rollback`: runs the recorded rollback command, then the verify command.
public enum CommandRollback: UndoHandler {
    public struct Payload: Codable, Sendable {
        var rollback: [String]
        var verify: [String]?
        var directory: String
        var timeoutSeconds: Double
    }

    public static let kind = "command.rollback"

    public static func undo(_ payload: Payload, _ context: UndoContext) throws -> UndoOutcome {
        try run(payload.rollback, payload, what: "rollback")
        return .undone
    }

    public static func verify(_ payload: Payload, _ context: UndoContext) throws {
        guard let verify = payload.verify else { return }
        try run(verify, payload, what: "verify")
    }

    static func run(_ command: [String], _ payload: Payload, what: String) throws {
        let (status, output) = try ChildProcess.run(
            command, timeout: .seconds(payload.timeoutSeconds), directory: payload.directory)
        guard status == 0 else {
            throw VerificationFailure(
                "\(what) command \(command.joined(separator: " ")) exited with status \(status): \(output.suffix(500))")
        }
    }
}
