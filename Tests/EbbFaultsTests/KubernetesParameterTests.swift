import EbbCore
import EbbFaults
import Foundation
import Testing

/// The Kubernetes faults refuse bad parameters when the suite loads (exit 3), before any
/// cluster is contacted; the faults themselves are exercised against the emulator end to end.
@Suite struct KubernetesParameterTests {
    /// The message of the suite error `yaml` gives, or nil when it loads.
    func problem(_ yaml: String) throws -> String? {
        let harness = try FaultHarness()
        defer { harness.remove() }
        do {
            _ = try harness.fault(yaml)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func validParametersLoadWithoutTouchingACluster() throws {
        for yaml in [
            "k8s.pod-delete: { kubeconfig: nowhere, selector: 'app=web,tier!=cache', percent: 50, grace_period: 5s, protected_labels: [critical] }",
            "k8s.network-outage: { selector: app=web, direction: egress, empty: skip, max_targets: 3 }",
            "k8s.scale: { kind: statefulset, name: db, replicas: 0, ready_timeout: 30s }",
            "k8s.node-cordon: { selector: pool=b, taint: NoExecute }",
            "k8s.service-hijack: { service: web, selector: app=maintenance }",
        ] {
            #expect(try problem(yaml) == nil, "\(yaml)")
        }
    }

    @Test func badValuesAreRefusedNamingTheParameter() throws {
        let cases: [(String, String)] = [
            ("k8s.pod-delete: { selector: app=web, count: 2, percent: 10 }", "count or percent, not both"),
            ("k8s.pod-delete: { selector: app=web, percent: 120 }", "from 1 to 100"),
            ("k8s.pod-delete: { selector: 'app=we b' }", "not a label selector"),
            ("k8s.pod-delete: { count: 1 }", "missing required parameter 'selector'"),
            ("k8s.pod-delete: { selector: app=web, empty: maybe }", "neither fail nor skip"),
            ("k8s.pod-delete: { selector: app=web, max_targets: 0 }", "at least 1"),
            (
                "k8s.pod-delete: { selector: app=web, namespace: prod, allowed_namespaces: [shop] }",
                "not in allowed_namespaces"
            ),
            ("k8s.network-outage: { selector: app=web, direction: sideways }", "ingress, egress or both"),
            ("k8s.scale: { name: web, replicas: -1 }", "0 or more"),
            ("k8s.scale: { kind: daemonset, name: web, replicas: 0 }", "neither deployment nor statefulset"),
            ("k8s.node-cordon: { taint: NoSchedule }", "either node or selector"),
            ("k8s.node-cordon: { node: n1, taint: PreferNoSchedule }", "neither NoSchedule nor NoExecute"),
            ("k8s.service-hijack: { service: web, selector: '!app' }", "key=value pairs only"),
        ]
        for (yaml, expected) in cases {
            let message = try problem(yaml)
            #expect(message?.contains(expected) == true, "\(yaml): \(message ?? "loaded")")
        }
    }
}
