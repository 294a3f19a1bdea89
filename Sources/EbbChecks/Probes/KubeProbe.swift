import EbbKubernetes
import Foundation

/// Asks the Kubernetes API for one number and compares it: a field of one object
/// (`status.readyReplicas` of a Deployment) or the count of objects a selector matches
/// (optionally only Ready pods). Healthy when the comparison holds.
struct KubeProbe: Probe {
    let spec: KubeProbeSpec
    let client: KubeClient

    func sample() async -> ProbeOutcome {
        let spec = spec
        let client = client
        do {
            let value = try await Deadline.run(within: spec.timeout) { try await Self.measure(spec, client) }
            let shown = "\(spec.measured) = \(Comparison.format(value))"
            return ProbeOutcome(
                healthy: spec.expect.holds(for: value), detail: "\(shown), expected \(spec.expect)", answered: true)
        } catch let error as KubeAPIError {
            return ProbeOutcome(
                healthy: false, detail: error.status == 0 ? HTTPProbe.describe(error) : error.description,
                answered: error.status != 0)
        } catch {
            return ProbeOutcome(healthy: false, detail: HTTPProbe.describe(error), answered: false)
        }
    }

    struct NotANumber: Error, CustomStringConvertible {
        var description: String
    }

    static func measure(_ spec: KubeProbeSpec, _ client: KubeClient) async throws -> Double {
        let namespace = spec.namespace ?? client.config.namespace ?? "default"
        if let name = spec.name {
            let object = try await client.get(spec.resource.path(name, in: namespace), within: spec.timeout)
            switch object.value(at: spec.field) {
            // An absent count (readyReplicas of a workload with none ready) is zero, as kubectl shows it.
            case nil, .null?: return 0
            case .number(let value)?: return value
            case .bool(let flag)?: return flag ? 1 : 0
            case let other?: throw NotANumber(description: "\(spec.field) is '\(other)', not a number")
            }
        }
        var items = try await client.list(
            spec.resource.collection(in: namespace), labelSelector: spec.selector?.description,
            fieldSelector: spec.fieldSelector, within: spec.timeout)
        if let selector = spec.selector {
            items = items.filter { selector.matches($0.value(at: "metadata.labels")?.stringMap ?? [:]) }
        }
        if spec.readyOnly { items = items.filter(PodReadiness.isReady) }
        return Double(items.count)
    }
}
