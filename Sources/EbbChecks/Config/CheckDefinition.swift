import EbbKubernetes
import Foundation

/// One health check of a suite: a probe, when it samples, and the SLOs it is held to.
struct CheckDefinition: Sendable {
    var name: String
    var probe: ProbeSpec
    /// Time between the starts of two samples while the faults are live and during recovery.
    var interval: Duration
    var phases: Set<CheckPhase>
    /// Consecutive healthy samples the `before` phase needs.
    var beforeSamples: Int
    /// Nil: the check is strict, every `during` sample must be healthy.
    var slo: SLOSpec?
    /// How long recovery is awaited when no `recover_within` limit is set.
    static let defaultRecoveryWait: Duration = .seconds(30)
}

/// When a check samples (Litmus' vocabulary).
enum CheckPhase: String, Sendable, CaseIterable {
    /// Steady state before injection; failing it means the scenario is not injected.
    case before
    /// Continuously while the faults are live.
    case during
    /// Once, after rollback and recovery.
    case after
    /// From rollback until the check is healthy again.
    case recovery
}

/// What a probe asks.
enum ProbeSpec: Sendable {
    case http(HTTPProbeSpec)
    case tcp(TCPProbeSpec)
    case command(CommandProbeSpec)
    case k8s(KubeProbeSpec)

    var summary: String {
        switch self {
        case .http(let spec): return "http \(spec.method) \(spec.url.absoluteString)"
        case .tcp(let spec): return "tcp \(spec.host):\(spec.port)"
        case .command(let spec):
            if let remote = spec.remote {
                return "command on host \(remote.host): \(remote.command.joined(separator: " "))"
            }
            return "command \(spec.command.joined(separator: " "))"
        case .k8s(let spec): return "k8s \(spec.measured) \(spec.expect)"
        }
    }
}

struct HTTPProbeSpec: Sendable {
    var url: URL
    var method: String
    var headers: [(String, String)]
    /// The environment variable holding a bearer token; its value never reaches logs or reports.
    var bearerTokenVariable: String?
    /// Accepted status codes; any of these ranges.
    var statuses: [ClosedRange<Int>]
    var bodyContains: String?
    var bodyMatches: String?
    var verifiesTLS: Bool
    var timeout: Duration
}

struct TCPProbeSpec: Sendable {
    var host: String
    var port: Int
    var timeout: Duration
}

/// A number read from the Kubernetes API: a field of one object, or a count of objects.
struct KubeProbeSpec: Sendable {
    var source: ClusterSource
    var resource: KubeResource
    /// Nil: the context's namespace, else `default`.
    var namespace: String?
    /// One object; nil: count the objects `selector` matches.
    var name: String?
    /// The field compared when `name` is given, e.g. `status.readyReplicas`.
    var field: String
    var selector: LabelSelector?
    /// A field selector the server applies to the count, e.g. `spec.unschedulable=true`.
    var fieldSelector: String?
    /// Count only Ready pods.
    var readyOnly: Bool
    var expect: Comparison
    var timeout: Duration

    /// What is measured, for messages: `deployments web status.readyReplicas`, `Ready pods app=web`.
    var measured: String {
        if let name { return "\(resource.rawValue) \(name) \(field)" }
        return
            "\(readyOnly ? "Ready " : "")\(resource.rawValue)\(selector.map { " \($0)" } ?? "")\(fieldSelector.map { " \($0)" } ?? "")"
    }
}

struct CommandProbeSpec: Sendable {
    var command: [String]
    var exitCode: Int32
    var outputContains: String?
    var outputMatches: String?
    var timeout: Duration
    var directory: String
    /// The suite host the command runs on and the command as written, when `command` is the
    /// ssh command line that runs it there.
    var remote: (host: String, command: [String])?
}

/// The service levels a check is held to while the faults are live and after.
struct SLOSpec: Sendable {
    /// Total time the check may fail, across all its downtime windows.
    var maxDowntime: Duration?
    /// Share of healthy samples while the faults are live, 0...1.
    var minSuccessRatio: Double?
    /// Latency ceilings of healthy answers by percentile (50, 95, 99).
    var latency: [(percentile: Double, ceiling: Duration)]
    /// Longest run of failed samples tolerated; shorter blips pass (debounce).
    var maxConsecutiveFailures: Int?
    /// Longest time from rollback until the check is healthy again.
    var recoverWithin: Duration?
    /// End the hold and roll back as soon as `max_downtime` or `max_consecutive_failures` is breached.
    var abortOnBreach: Bool
}
