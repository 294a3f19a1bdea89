import EbbCore
import EbbKubernetes
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ebb rollback sweep --kubernetes` against the emulator: when the runner, its guardian and the
/// journal are all gone, the marks on the objects alone take every fault back, once it expired,
/// and never anything that is not provably Ebb's.
@Suite(.serialized, .ownThread) struct KubernetesSweepTests {
    let workspace: Workspace
    let emulator: KubeEmulator
    let kubeconfig: String

    /// Objects a sweep must never touch: an `ebb.dev/run` label with no undo, with an undo that
    /// is not JSON, with a valid-looking undo but no mark of the fault, and another tool's label.
    static let foreign: [JSONValue] = [
        [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": [
                "name": "legacy", "namespace": "shop", "labels": ["ebb.dev/run": "0badc0de"],
                "annotations": ["ebb.dev/expires-at": "2000-01-01T00:00:00Z", "ebb.dev/scaled-by": "0badc0de"],
            ],
            "spec": ["replicas": 0, "selector": ["matchLabels": ["app": "legacy"]]],
        ],
        [
            "apiVersion": "v1", "kind": "Service",
            "metadata": [
                "name": "garbled", "namespace": "shop", "labels": ["ebb.dev/run": "0badc0de"],
                "annotations": [
                    "ebb.dev/expires-at": "2000-01-01T00:00:00Z", "ebb.dev/undo": "{not json",
                    "ebb.dev/hijacked-by": "0badc0de",
                ],
            ],
            "spec": ["selector": ["app": "nothing"]],
        ],
        [
            "apiVersion": "v1", "kind": "Service",
            "metadata": [
                "name": "forged", "namespace": "shop", "labels": ["ebb.dev/run": "0badc0de"],
                "annotations": [
                    "ebb.dev/expires-at": "2000-01-01T00:00:00Z",
                    "ebb.dev/undo":
                        #"{"kind":"k8s.service-restore","seq":1,"scenario":"x","at":"2000-01-01T00:00:00Z","data":{"original":{"app":"web"},"injected":{"app":"nothing"}}}"#,
                ],
            ],
            "spec": ["selector": ["app": "nothing"]],
        ],
        [
            "apiVersion": "v1", "kind": "Service",
            "metadata": [
                "name": "other-tool", "namespace": "shop", "labels": ["chaos.example/run": "0badc0de"],
                "annotations": ["chaos.example/undo": "{}"],
            ],
            "spec": ["selector": ["app": "nothing"]],
        ],
    ]

    init() throws {
        workspace = try Workspace()
        emulator = try KubeEmulator(in: workspace.url, seed: KubeEmulator.shop + Self.foreign)
        kubeconfig = try emulator.kubeconfig()
        let emulator = emulator
        #expect(
            eventually(timeout: .seconds(20)) { emulator.readyPods().count == 3 },
            "the replica controller never made 3 Ready pods")
    }

    static let faults = """
              - k8s.scale: { kubeconfig: kubeconfig, name: web, replicas: 1 }
              - k8s.network-outage: { kubeconfig: kubeconfig, selector: app=web }
              - k8s.node-cordon: { kubeconfig: kubeconfig, node: node-2, taint: NoSchedule }
              - k8s.service-hijack: { kubeconfig: kubeconfig, service: web, selector: app=maintenance }
        """

    func run(hold: String, grace: String, extra: String = "") throws -> EbbRun {
        let path = try workspace.write(
            suite: """
                suite: sweep
                scenarios:
                  - name: held
                    duration: \(hold)
                    faults:
                \(Self.faults)
                \(extra)
                """)
        return try EbbRun(
            ["run", path, "--state-dir", workspace.state.path, "--deadline-grace", grace], in: workspace.url)
    }

    func sweep(_ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try EbbRun.run(
            ["rollback", "sweep", "--kubernetes", "--kubeconfig", kubeconfig, "--all-namespaces"] + extra,
            in: workspace.url)
    }

    /// The four objects the faults change, by path.
    var changed: [String] {
        [
            KubeResource.deployments.path("web", in: "shop"), KubeResource.services.path("web", in: "shop"),
            KubeResource.nodes.path("node-2", in: nil),
        ]
            + emulator.policies.compactMap { $0.value(at: "metadata.name")?.stringValue }.map {
                KubeResource.networkpolicies.path($0, in: "shop")
            }
    }

    var foreignPaths: [String] {
        [KubeResource.deployments.path("legacy", in: "shop")]
            + ["garbled", "forged", "other-tool"].map { KubeResource.services.path($0, in: "shop") }
    }

    func versions(_ paths: [String]) -> [String: String] {
        paths.reduce(into: [:]) {
            $0[$1] = emulator.object($1)?.value(at: "metadata.resourceVersion")?.stringValue ?? "gone"
        }
    }

    /// Objects of the kinds Ebb changes that carry the sweep label, other than the foreign seeds.
    func marked() -> [String] {
        let kinds: [KubeResource] = [.deployments, .services, .networkpolicies, .nodes]
        return kinds.flatMap { kind in
            emulator.list(kind.collection(in: nil), selector: "ebb.dev/run").compactMap {
                $0.value(at: "metadata.name")?.stringValue
            }
        }.filter { !["legacy", "garbled", "forged"].contains($0) }
    }

    func expiries() -> [Date] {
        changed.compactMap {
            emulator.object($0)?.value(at: "metadata.annotations")?["ebb.dev/expires-at"]?.stringValue
        }
        .compactMap { ISO8601DateFormatter().date(from: $0) }
    }

    var restored: Bool {
        emulator.replicas == 3 && emulator.policies.isEmpty
            && emulator.serviceSelector == ["app": "web", "tier": "front"]
            && emulator.node("node-2")?.value(at: "spec.unschedulable") == nil
            && emulator.node("node-2")?.value(at: "spec.taints") == nil
    }

    @Test func aSweepWithNoJournalRevertsEveryExpiredFaultOnceAndNothingElse() throws {
        let run = try run(hold: "10s", grace: "5s")
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let id = try unwrap(workspace.runIDs().first)
        #expect(
            marked().sorted()
                == (["node-2", "web", "web"]
                + emulator.policies.compactMap { $0.value(at: "metadata.name")?.stringValue }).sorted())
        for path in changed {
            let object = try #require(emulator.object(path))
            #expect(object.value(at: "metadata.labels")?["ebb.dev/run"] == .string(id), "\(path)")
            #expect(
                object.value(at: "metadata.annotations")?["ebb.dev/undo"]?.stringValue?.contains("\"kind\"") == true,
                "\(path)")
        }

        // Everything dies: the runner (stopped first, so it cannot roll back), its guardian, the journal.
        run.signal(SIGSTOP)
        let runDirectory = try workspace.runDirectory(id)
        let guardian = try #require(
            JournalReader(stateDirectory: workspace.state).run(at: runDirectory).info?.guardianPID)
        #expect(kill(guardian, SIGKILL) == 0)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(
            eventually(timeout: .seconds(10)) { ProcessTable.snapshot(guardian).map(\.isGone) ?? true },
            "the guardian is gone")
        try FileManager.default.removeItem(at: workspace.state)

        // Before expiry: the faults are still their run's (it may be alive elsewhere); nothing is touched.
        let expiry = try #require(expiries().min())
        let before = versions(changed + foreignPaths)
        #expect(Date() < expiry, "this machine was too slow: the faults expired before the first sweep started")
        let early = try sweep()
        #expect(early.status == 0, "\(early.stdout)\n\(early.stderr)")
        #expect(early.stdout.components(separatedBy: "not expired").count - 1 == 4, "\(early.stdout)")
        #expect(versions(changed + foreignPaths) == before)
        #expect(
            emulator.replicas == 1 && emulator.policies.count == 1 && emulator.serviceSelector == ["app": "maintenance"]
        )

        // After expiry a dry run lists all four and changes nothing.
        let latest = try #require(expiries().max())
        #expect(eventually(timeout: .seconds(60)) { Date() > latest })
        let dry = try sweep(["--dry-run"])
        #expect(dry.status == 0, "\(dry.stdout)\n\(dry.stderr)")
        #expect(dry.stdout.components(separatedBy: "would revert").count - 1 == 4, "\(dry.stdout)")
        #expect(versions(changed + foreignPaths) == before)

        // Then two sweeps at once (two CI jobs, or a CronJob and a person): both succeed.
        let first = try EbbRun(
            [
                "rollback", "sweep", "--kubernetes", "--kubeconfig", kubeconfig, "--all-namespaces", "--report-dir",
                "reports-a",
            ], in: workspace.url)
        let second = try EbbRun(
            [
                "rollback", "sweep", "--kubernetes", "--kubeconfig", kubeconfig, "--all-namespaces", "--report-dir",
                "reports-b",
            ], in: workspace.url)
        #expect(first.wait() == 0, "\(first.stdout)\n\(first.stderr)")
        #expect(second.wait() == 0, "\(second.stdout)\n\(second.stderr)")
        #expect(restored, "replicas, policy, cordon, taint and selector are back")
        // The scale undo's verification waited for the restored replicas to be Ready.
        #expect(emulator.readyPods().count == 3)
        #expect(marked().isEmpty, "no Ebb label is left: \(marked())")
        for path in [
            KubeResource.deployments.path("web", in: "shop"), KubeResource.services.path("web", in: "shop"),
            KubeResource.nodes.path("node-2", in: nil),
        ] {
            let annotations = emulator.object(path)?.value(at: "metadata.annotations")?.stringMap ?? [:]
            #expect(annotations.keys.filter { $0.hasPrefix("ebb.dev/") }.isEmpty, "\(path): \(annotations)")
        }
        #expect(
            "\(first.stdout)\(second.stdout)".contains("reverted      deployment shop/web (run \(id)"),
            "\(first.stdout)\n\(second.stdout)")
        for output in [first.stdout, second.stdout] {
            #expect(output.contains("ignored       deployment shop/legacy"), "\(output)")
            #expect(output.contains("ignored       service shop/garbled"), "\(output)")
            #expect(output.contains("ignored       service shop/forged"), "\(output)")
            #expect(!output.contains("other-tool"), "\(output)")
        }
        #expect(
            versions(foreignPaths) == before.filter { foreignPaths.contains($0.key) },
            "objects that are not provably Ebb's are never written")

        // The summary of the sweep that got there: every fault verified reverted.
        let summaries = try ["reports-a", "reports-b"].flatMap { folder in
            try FileManager.default.contentsOfDirectory(atPath: workspace.url.appendingPathComponent(folder).path)
                .filter { $0.hasPrefix("rollback-summary-sweep-") && $0.hasSuffix(".json") }
                .map { workspace.url.appendingPathComponent(folder).appendingPathComponent($0) }
        }
        #expect(!summaries.isEmpty, "a sweep that reverted something writes its summary")
        let totals = try summaries.map { try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: $0)) }
        #expect(totals.contains { $0.value(at: "totals.reverted") == 4 }, "\(totals)")
        #expect(totals.allSatisfy { $0.value(at: "totals.revertFailed") == 0 && $0.value(at: "exitCode") == 0 })

        // A sweep after that finds nothing of this run and changes nothing.
        let after = versions(
            foreignPaths + [
                KubeResource.deployments.path("web", in: "shop"), KubeResource.services.path("web", in: "shop"),
                KubeResource.nodes.path("node-2", in: nil),
            ])
        let again = try sweep()
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(!again.stdout.contains("reverted "), "\(again.stdout)")
        #expect(versions(Array(after.keys)) == after)
    }

    @Test func theRunsOwnUndoRemovesTheMarksAndTheExpiryCoversHoldAndGrace() throws {
        // A slow last fault: the hold starts 2s after the k8s faults were injected, and their
        // expiry must still be the end of the hold plus the grace, not their injection's.
        let slow = """
                  - command: { inject: [sh, -c, "sleep 2; date +%s > last-injected"], rollback: ["true"] }
            """
        let run = try run(hold: "2s", grace: "7s", extra: slow)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let text = try String(contentsOf: workspace.url.appendingPathComponent("last-injected"), encoding: .utf8)
        let lastInjected = Date(
            timeIntervalSince1970: try #require(Double(text.trimmingCharacters(in: .whitespacesAndNewlines))))
        #expect(expiries().count == 4)
        #expect(
            expiries().allSatisfy { $0 >= lastInjected.addingTimeInterval(9) },
            "\(expiries()) vs last injection \(lastInjected)")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(restored)
        #expect(marked().isEmpty, "the undos left Ebb labels: \(marked())")
        let annotations =
            emulator.object(KubeResource.services.path("web", in: "shop"))?.value(at: "metadata.annotations")?.stringMap
            ?? [:]
        let left = annotations.keys.filter { $0.hasPrefix("ebb.dev/") }
        #expect(left.isEmpty, "\(annotations)")
        let nothing = try sweep()
        #expect(nothing.status == 0 && !nothing.stdout.contains("reverted "), "\(nothing.stdout)\n\(nothing.stderr)")
    }

    @Test func aDryRunSweepIsForKubernetesOnly() throws {
        let refused = try EbbRun.run(["rollback", "sweep", "--dry-run"], in: workspace.url)
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("--dry-run applies to --kubernetes only"), "\(refused.stderr)")
    }
}
