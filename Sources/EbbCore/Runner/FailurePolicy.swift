/// Which outcomes fail the CI job (`ebb run --fail-on`). The exit code table stays as it is;
/// a policy maps the codes it does not gate on to 0. Invalid input (3) always fails, because a
/// gate that ran nothing must not pass, and signal codes pass through.
public enum FailurePolicy: String, CaseIterable, Sendable {
    /// Every non-zero code fails the job.
    case any
    /// Failed checks (1) and incomplete rollbacks (2) fail; an inconclusive run (4) does not.
    case checks
    /// Only an incomplete rollback (2) fails: for teams that gate merges on rollback safety
    /// while their SLOs are still being tuned.
    case rollback

    /// The code the process exits with under this policy.
    public func exitCode(for status: ExitStatus) -> Int32 {
        switch (self, status) {
        case (.checks, .inconclusive), (.rollback, .inconclusive), (.rollback, .checksFailed): return 0
        default: return status.rawValue
        }
    }

    public var summary: String {
        switch self {
        case .any: return "every non-zero exit code fails the job (default)"
        case .checks: return "checks (1) and rollbacks (2) fail the job; an inconclusive run (4) exits 0"
        case .rollback:
            return "only an incomplete rollback (2) fails the job; failed checks (1) and inconclusive runs (4) exit 0"
        }
    }
}
