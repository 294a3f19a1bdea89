import EbbCore
import Foundation

/// One line of JSON from the runner to a host's agent (`ebb remote agent`).
struct AgentRequest: Codable, Sendable {
    enum Operation: String, Codable, Sendable {
        /// Plan, arm (the host's own record, durable) and inject one fault.
        case inject
        /// The hold starts: move the fault's deadline (and any mark on its target) to `lifetime` from now.
        case renew
        /// Take record `sequence` back (as `ebb remote undo` does), from the runner's own rollback.
        case undo
        /// Prove record `sequence` is gone (as `ebb remote verify` does).
        case verify
        /// Probe the readiness of fixture `sequence` on the host (`readiness`).
        case probe
        /// The run is done here: the agent closes its journal and exits.
        case close

        init(_ action: RemoteRecords.Action) {
            switch action {
            case .undo: self = .undo
            case .verify: self = .verify
            }
        }

        /// What an undo or verify request asks of its record.
        var recordAction: RemoteRecords.Action? { RemoteRecords.Action(rawValue: rawValue) }
    }
    var operation: Operation
    var sequence: Int?
    var scenario: String?
    var fault: String?
    var plugin: String?
    var parameters: JSONValue?
    /// Seconds from now to the fault's deadline (never a clock time: the host's clock may differ).
    var lifetime: Double?
    var suiteDirectory: String?
    var allowedRoots: [String]?
    var readiness: Readiness.Condition?
}

/// One line of JSON from the agent back: the hello on start, then one per request.
struct AgentReply: Codable, Sendable {
    var ok: Bool
    var error: String?
    /// What the fault acts on, as the host resolved it.
    var target: String?
    var runID: String?
    var pid: Int32?
    /// The answer to an undo or verify.
    var outcome: RemoteRecordOutcome?
    /// The answer to a probe.
    var readiness: ReadinessAnswer?
}

/// The answer of `ebb remote undo` / `ebb remote verify` on a host, printed as one JSON line.
public struct RemoteRecordOutcome: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        case undone, gone, irreversible, failed
    }
    public var state: State
    public var detail: String

    public init(state: State, detail: String) {
        self.state = state
        self.detail = detail
    }
}
