import EbbCore
import EbbKubernetes
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The k8s faults and the k8s probe against the Kubernetes emulator (kmock plus
/// ci/kube-emulator/kube_emulator.py): inject, verify and undo of each fault, recovery after a
/// runner SIGKILL, conflicts with someone else's change, empty selectors and refused tokens.
@Suite(.serialized, .ownThread) struct KubernetesTests {
    let workspace: Workspace
    let emulator: KubeEmulator
    let kubeconfig: String

    init() throws {
        workspace = try Workspace()
        emulator = try KubeEmulator(in: workspace.url)
        kubeconfig = try emulator.kubeconfig()
        let emulator = emulator
        #expect(
            eventually(timeout: .seconds(20)) { emulator.readyPods().count == 3 },
            "the replica controller never made 3 Ready pods")
    }

    func run(_ suite: String, _ extra: [String] = []) throws -> EbbRun {
        let path = try workspace.write(suite: suite)
        return try EbbRun(["run", path, "--state-dir", workspace.state.path] + extra, in: workspace.url)
    }

    func suite(_ faults: String, hold: String = "4s", checks: String = "") -> String {
        """
        suite: kube
        \(checks)
        scenarios:
          - name: kube
            duration: \(hold)
            faults:
        \(faults)
        """
    }

    var deployment: String { KubeResource.deployments.path("web", in: "shop") }

    @Test func scaleToZeroIsRestoredAndWaitedForUntilReady() throws {
        let run = try run(suite("      - k8s.scale: { kubeconfig: kubeconfig, name: web, replicas: 0 }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(emulator.replicas == 0)
        #expect(KubeOwnershipMark.scaled(emulator.object(deployment)) == id)
        #expect(eventually(timeout: .seconds(10)) { emulator.readyPods().isEmpty })
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        // The undo's verification waited for readiness, so the pods are Ready when the run ends.
        #expect(emulator.replicas == 3)
        #expect(emulator.readyPods().count == 3)
        #expect(KubeOwnershipMark.scaled(emulator.object(deployment)) == nil)
    }

    @Test func networkOutagePolicyIsTheRunsOwnAndIsDeletedAfter() throws {
        let run = try run(
            suite("      - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=web, direction: ingress }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        let policy = try #require(emulator.policies.first)
        #expect(policy.value(at: "metadata.labels")?["ebb.dev/run-id"] == .string(id))
        #expect(policy.value(at: "spec.podSelector.matchLabels.app") == "web")
        #expect(policy.value(at: "spec.policyTypes") == ["Ingress"])
        // Protected pods are excluded by the policy itself.
        #expect(
            policy.value(at: "spec.podSelector.matchExpressions")?.arrayValue?.contains {
                $0["key"] == "ebb.dev/protected"
            } == true)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.policies.isEmpty)
    }

    @Test func nodeCordonRemovesOnlyItsOwnTaint() throws {
        let run = try run(suite("      - k8s.node-cordon: { kubeconfig: kubeconfig, node: node-1, taint: NoExecute }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let node = try #require(emulator.node("node-1"))
        #expect(node.value(at: "spec.unschedulable") == true)
        let taints = node.value(at: "spec.taints")?.arrayValue ?? []
        #expect(taints.count == 2)
        #expect(taints.contains { $0["key"] == "ebb.dev/chaos" && $0["effect"] == "NoExecute" })
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        let after = try #require(emulator.node("node-1"))
        #expect(after.value(at: "spec.unschedulable") == nil)
        #expect(after.value(at: "spec.taints") == [["key": "dedicated", "value": "db", "effect": "NoSchedule"]])
        #expect(after.value(at: "metadata.annotations")?["ebb.dev/cordoned-by"] == nil)
    }

    @Test func aNodeCordonedBeforeStaysCordonedAfterTheUndo() throws {
        try emulator.patch(KubeResource.nodes.path("node-2", in: nil), ["spec": ["unschedulable": true]])
        let run = try run(
            suite("      - k8s.node-cordon: { kubeconfig: kubeconfig, selector: pool=b, taint: NoSchedule }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.node("node-2")?.value(at: "spec.taints")?.arrayValue?.count == 1)
        #expect(emulator.node("node-1")?.value(at: "spec.unschedulable") == nil, "pool=a is not selected")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        let node = try #require(emulator.node("node-2"))
        #expect(node.value(at: "spec.unschedulable") == true, "someone else's cordon is kept")
        #expect(node.value(at: "spec.taints") == nil, "only Ebb's taint is removed")
    }

    @Test func serviceHijackRestoresTheSelectorExactly() throws {
        let run = try run(suite("      - k8s.service-hijack: { kubeconfig: kubeconfig, service: web }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(emulator.serviceSelector == ["ebb.dev/hijacked-by": id])
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.serviceSelector == ["app": "web", "tier": "front"])
    }

    @Test func podDeleteIsIrreversibleAndRecoveryIsMeasuredByAK8sProbe() throws {
        let before = Set(emulator.readyPods())
        let checks = """
            checks:
              - name: web-pods-ready
                k8s: { kubeconfig: kubeconfig, resource: pods, selector: app=web, ready: true, expect: ">= 3" }
                interval: 100ms
                phases: [before, recovery]
                slo: { recover_within: 20s }
            """
        let run = try run(
            suite("      - k8s.pod-delete: { kubeconfig: kubeconfig, selector: app=web, count: 2 }", checks: checks))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(
            Set(
                emulator.list(KubeResource.pods.collection(in: "shop"), selector: "app=web").compactMap {
                    $0.value(at: "metadata.name")?.stringValue
                }
            )
            .intersection(before).count == 1)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        let now = Set(emulator.readyPods())
        #expect(now.count == 3 && now.intersection(before).count == 1, "replacements are Ready: \(now)")
        let id = try unwrap(workspace.runIDs().first)
        let summary = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.json"), encoding: .utf8)
        #expect(summary.contains("irreversible"))
        // The recovery check measured how long until 3 pods were Ready again, and it passed.
        #expect(run.stdout.contains("ok   recovery: web-pods-ready"), "\(run.stdout)")
    }

    @Test func everyUndoSurvivesARunnerSIGKILLThroughTheGuardian() throws {
        let faults = """
                  - k8s.scale: { kubeconfig: kubeconfig, name: web, replicas: 1 }
                  - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=web }
                  - k8s.node-cordon: { kubeconfig: kubeconfig, node: node-2, taint: NoSchedule }
                  - k8s.service-hijack: { kubeconfig: kubeconfig, service: web, selector: app=maintenance }
            """
        let run = try run(suite(faults, hold: "5m"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(
            emulator.replicas == 1 && emulator.policies.count == 1 && emulator.serviceSelector == ["app": "maintenance"]
        )
        #expect(emulator.node("node-2")?.value(at: "spec.unschedulable") == true)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        let emulator = emulator
        #expect(
            eventually(timeout: .seconds(30)) {
                emulator.replicas == 3 && emulator.policies.isEmpty
                    && emulator.serviceSelector == ["app": "web", "tier": "front"]
                    && emulator.node("node-2")?.value(at: "spec.unschedulable") == nil
                    && emulator.node("node-2")?.value(at: "spec.taints") == nil
            }, "the guardian restored replicas, policy, cordon and selector")
        workspace.waitForGuardians()
    }

    @Test func rollbackExecuteRestoresFromTheJournalAloneAndIsIdempotent() throws {
        let faults = """
                  - k8s.scale: { kubeconfig: kubeconfig, name: web, replicas: 0 }
                  - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=web }
                  - k8s.node-cordon: { kubeconfig: kubeconfig, selector: pool=a }
                  - k8s.service-hijack: { kubeconfig: kubeconfig, service: web }
            """
        let run = try run(suite(faults, hold: "5m"), ["--no-guardian"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(emulator.replicas == 0 && emulator.policies.count == 1)
        // The suite and its kubeconfig path argument are not needed: the record holds the source.
        try FileManager.default.removeItem(atPath: workspace.url.appendingPathComponent("suite.yaml").path)
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 0, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(emulator.replicas == 3 && emulator.readyPods().count == 3)
        #expect(emulator.policies.isEmpty)
        #expect(emulator.serviceSelector == ["app": "web", "tier": "front"])
        #expect(emulator.node("node-1")?.value(at: "spec.unschedulable") == nil)
        let again = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
    }

    @Test func recoveryRefusesToDeleteAPolicyThatIsNotTheRunsOwn() throws {
        let run = try run(
            suite("      - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=web }", hold: "5m"),
            ["--no-guardian"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        let name = try #require(emulator.policies.first?.value(at: "metadata.name")?.stringValue)
        // The policy now claims another owner: recovery must fail closed, not delete it.
        let path = KubeResource.networkpolicies.path(name, in: "shop")
        try emulator.patch(path, ["metadata": ["labels": ["ebb.dev/run-id": "someone-else"]]])
        let recovery = try EbbRun.run(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url)
        #expect(recovery.status == 2, "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(
            "\(recovery.stdout)\(recovery.stderr)".contains("refusing to delete"),
            "\(recovery.stdout)\n\(recovery.stderr)")
        #expect(emulator.object(path) != nil)
    }

    @Test func someoneElsesChangeMeanwhileIsLeftAloneAndReportedAsAConflict() throws {
        let faults = """
                  - k8s.scale: { kubeconfig: kubeconfig, name: web, replicas: 0 }
                  - k8s.service-hijack: { kubeconfig: kubeconfig, service: web }
            """
        let run = try run(suite(faults, hold: "5s"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        // An operator scales up and repoints the Service by hand while the fault is live.
        try emulator.patch(KubeResource.deployments.path("web", in: "shop") + "/scale", ["spec": ["replicas": 5]])
        try emulator.patch(
            KubeResource.services.path("web", in: "shop"),
            ["spec": ["selector": ["app": "canary", "ebb.dev/hijacked-by": .null]]])
        #expect(run.wait() == 2, "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.replicas == 5)
        #expect(emulator.serviceSelector == ["app": "canary"])
        #expect(run.stdout.contains("someone else"), "\(run.stdout)")
        #expect(KubeOwnershipMark.scaled(emulator.object(deployment)) == nil, "the run's mark is removed even so")
    }

    @Test func aSelectorRewrittenAroundEbbsKeyLosesOnlyThatKey() throws {
        let run = try run(suite("      - k8s.service-hijack: { kubeconfig: kubeconfig, service: web }", hold: "5s"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        // A GitOps sync puts its own key back with a merge patch and leaves Ebb's key alone:
        // the Service would keep matching nothing unless the undo removes what only Ebb set.
        try emulator.patch(KubeResource.services.path("web", in: "shop"), ["spec": ["selector": ["app": "canary"]]])
        #expect(run.wait() == 2, "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.serviceSelector == ["app": "canary"])
        #expect(run.stdout.contains("someone else"), "\(run.stdout)")
    }

    @Test func aConditionalUpdateThatMeetsAConcurrentChangeIsReReadAndRetried() throws {
        let client = try emulator.client()
        defer { client.syncShutdown() }
        var attempts = 0
        let node = KubeResource.nodes.path("node-2", in: nil)
        try client.update(node) { object in
            attempts += 1
            if attempts == 1 {
                // Someone else changes the node between our read and our write: the write gets 409.
                try emulator.patch(node, ["metadata": ["labels": ["pool": "b", "changed": "meanwhile"]]])
            }
            return [
                "metadata": [
                    "annotations": [
                        "seen-labels": .string("\(object.value(at: "metadata.labels")?.stringMap.count ?? 0)")
                    ]
                ]
            ]
        }
        #expect(attempts == 2)
        let after = try #require(emulator.node("node-2"))
        #expect(after.value(at: "metadata.labels.changed") == "meanwhile")
        // The retry computed its patch from the object as changed, not from the stale read.
        #expect(after.value(at: "metadata.annotations.seen-labels") == "2")
    }

    @Test func aSelectorMatchingNothingFailsUnlessEmptySkip() throws {
        let failing = try run(suite("      - k8s.pod-delete: { kubeconfig: kubeconfig, selector: app=nothing }"))
        let status = failing.wait()
        #expect(status != 0 && status != 2, "\(failing.stdout)\n\(failing.stderr)")
        #expect(failing.stdout.contains("matched nothing"), "\(failing.stdout)")
        let skipping = try run(
            suite("      - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=nothing, empty: skip }"))
        #expect(skipping.wait() == 0, "\(skipping.stdout)\n\(skipping.stderr)")
        #expect(emulator.policies.isEmpty)
        // Protected pods do not count: app=db pods all carry ebb.dev/protected=true.
        let protected = try run(suite("      - k8s.pod-delete: { kubeconfig: kubeconfig, selector: app=db }"))
        #expect(protected.wait() != 0)
        #expect(emulator.readyPods("db").count == 1)
        // A protected workload is never scaled.
        let protectedScale = try run(suite("      - k8s.scale: { kubeconfig: kubeconfig, name: db, replicas: 0 }"))
        #expect(protectedScale.wait() != 0)
        #expect(protectedScale.stdout.contains("protected label"), "\(protectedScale.stdout)")
        #expect(emulator.object(KubeResource.deployments.path("db", in: "shop"))?.value(at: "spec.replicas") == 1)
        // More targets than max_targets: refused, nothing deleted.
        let wide = try run(
            suite("      - k8s.pod-delete: { kubeconfig: kubeconfig, selector: app=web, percent: 100, max_targets: 2 }")
        )
        #expect(wide.wait() != 0)
        #expect(wide.stdout.contains("max_targets"), "\(wide.stdout)")
        #expect(emulator.readyPods().count == 3)
    }

    @Test func aRefusedTokenGivesAClearErrorAndInjectsNothing() throws {
        for (token, expected) in [("expired-token", "401"), (KubeEmulator.forbiddenToken, "403")] {
            try emulator.kubeconfig(token: token, name: "bad-kubeconfig")
            let run = try run(suite("      - k8s.scale: { kubeconfig: bad-kubeconfig, name: web, replicas: 0 }"))
            let status = run.wait()
            #expect(status != 0 && status != 2, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("HTTP \(expected)") && run.stdout.contains("context emulator"), "\(run.stdout)")
            #expect(run.stdout.contains("GET /apis/apps/v1/namespaces/shop/deployments/web"), "\(run.stdout)")
            #expect(emulator.replicas == 3)
        }
    }

    @Test func validatePluginsAndSchemaKnowTheKubernetesFaultsAndProbe() throws {
        let plugins = try EbbRun.run(["plugins"], in: workspace.url)
        for id in ["k8s.pod-delete", "k8s.network-outage", "k8s.scale", "k8s.node-cordon", "k8s.service-hijack"] {
            #expect(plugins.stdout.contains(id), "\(id) missing from ebb plugins")
        }
        let schema = try EbbRun.run(["schema"], in: workspace.url)
        #expect(schema.stdout.contains("k8s.network-outage") && schema.stdout.contains("\"field\""))
        let example = KubeEmulator.repository.appendingPathComponent("Scenarios/kubernetes.yaml").path
        let valid = try EbbRun(["validate", example], in: workspace.url, environment: ["EBB_KUBECONFIG": kubeconfig])
        #expect(valid.wait() == 0, "\(valid.stdout)\n\(valid.stderr)")
        let invalid = try workspace.write(
            suite: """
                checks:
                  - name: count
                    k8s: { resource: pods, selector: app=web }
                scenarios:
                  - name: wrong-namespace
                    faults:
                      - k8s.pod-delete: { namespace: kube-system, allowed_namespaces: [shop], selector: app=web }
                """, name: "invalid.yaml")
        let refused = try EbbRun.run(["validate", invalid], in: workspace.url)
        #expect(refused.status == 3)
        #expect(
            refused.stderr.contains("not in allowed_namespaces") && refused.stderr.contains("needs expect"),
            "\(refused.stderr)")
    }

    @Test func theExampleSuiteRunsEveryFaultWithRecoveryAndK8sProbes() throws {
        let suite = KubeEmulator.repository.appendingPathComponent("Scenarios/kubernetes.yaml").path
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path],
            in: workspace.url, environment: ["EBB_KUBECONFIG": kubeconfig])
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(
            emulator.replicas == 3 && emulator.policies.isEmpty
                && emulator.serviceSelector == ["app": "web", "tier": "front"])
        #expect(emulator.node("node-2")?.value(at: "spec.unschedulable") == nil)
    }
}

/// The marks Ebb leaves on objects while a fault is live.
enum KubeOwnershipMark {
    static func scaled(_ object: JSONValue?) -> String? {
        object?.value(at: "metadata.annotations")?["ebb.dev/scaled-by"]?.stringValue
    }
}
