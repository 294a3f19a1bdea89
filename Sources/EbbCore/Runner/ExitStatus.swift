/// Ebb's exit codes; one table, kept identical in code, docs/reference.md and `--help`.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case passed = 0
    case checksFailed = 1
    case rollbackIncomplete = 2
    case invalidInput = 3
    case inconclusive = 4
    case hangup = 129
    case interrupted = 130
    case terminated = 143

    public var meaning: String {
        switch self {
        case .passed: return "every scenario passed and every fault was verified reverted"
        case .checksFailed: return "a check or SLO failed (resilience regression); every fault reverted"
        case .rollbackIncomplete:
            return "rollback incomplete: some fault could not be verified reverted (system may be dirty)"
        case .invalidInput: return "invalid input (suite, flags, journal); nothing was injected"
        case .inconclusive: return "steady state did not hold before injection; the scenario was not run (inconclusive)"
        case .hangup: return "interrupted by SIGHUP, everything reverted"
        case .interrupted: return "interrupted by SIGINT, everything reverted"
        case .terminated: return "interrupted by SIGTERM, everything reverted"
        }
    }

    /// Rank in the precedence 2 > 3 > 129/130/143 > 1 > 4 > 0.
    private var rank: Int {
        switch self {
        case .rollbackIncomplete: return 5
        case .invalidInput: return 4
        case .interrupted, .terminated, .hangup: return 3
        case .checksFailed: return 2
        case .inconclusive: return 1
        case .passed: return 0
        }
    }

    /// The status that wins when both apply.
    public func combined(with other: ExitStatus) -> ExitStatus { other.rank > rank ? other : self }

    /// The status for a run interrupted by `signal`.
    public static func interrupted(by signal: Int32) -> ExitStatus {
        switch signal {
        case 1: return .hangup
        case 2: return .interrupted
        default: return .terminated
        }
    }

    /// The table as `--help` and docs/reference.md print it.
    public static var table: String {
        allCases.map { status in "  " + String(status.rawValue).padded(toWidth: 4) + " " + status.meaning }
            .joined(separator: "\n")
            + "\n  Precedence when several apply: 2 > 3 > 129/130/143 > 1 > 4 > 0."
    }
}
