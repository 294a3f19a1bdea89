import EbbCore
import EbbKubernetes
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `cloud.aws.instance-stop` and `cloud.aws.instance-reboot` against moto's EC2 API on
/// 127.0.0.1 (Scenarios/aws-nodes/ec2_emulator.py): stop and start verified running, the blast-radius cap,
/// recovery from the journal alone after a runner SIGKILL, the guardian, a terminated instance,
/// and a reboot verified running. Every run gets fake keys and the emulator's endpoint; no test
/// reaches AWS.
@Suite(.serialized, .ownThread, .enabled(if: EC2Emulator.python != nil, EC2Emulator.skipReason))
struct AWSNodeTests {
    let workspace: Workspace
    let emulator: EC2Emulator

    init() throws {
        workspace = try Workspace()
        emulator = try EC2Emulator(in: workspace.url)
    }

    var environment: [String: String] { emulator.environment(in: workspace.url) }

    func run(_ suite: String, _ extra: [String] = []) throws -> EbbRun {
        let path = try workspace.write(suite: suite)
        return try EbbRun(
            ["run", path, "--state-dir", workspace.state.path] + extra, in: workspace.url, environment: environment)
    }

    func suite(_ faults: String, hold: String = "3s") -> String {
        """
        suite: aws
        scenarios:
          - name: nodes
            duration: \(hold)
            faults:
        \(faults)
        """
    }

    func id(_ name: String) throws -> String { try unwrap(emulator.ids[name]) }

    @Test func stopThenRollbackStartsTheInstanceAndVerifiesItRunning() throws {
        let run = try run(suite("      - cloud.aws.instance-stop: { instance_ids: [\(try id("web-1"))] }"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.state("web-1") == "stopped")
        #expect(emulator.state("web-2") == "running", "only the named instance is stopped")
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        // The undo's verification polled until running, so it is running when the run ends.
        #expect(emulator.state("web-1") == "running")
        #expect(run.stdout.contains("ok   rollback: cloud.aws.instance-stop"), "\(run.stdout)")
        let summary = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.json"), encoding: .utf8)
        #expect(summary.contains("cloud.aws.instance-start") && summary.contains("reverted"), "\(summary)")
    }

    @Test func aSelectionLargerThanMaxInstancesIsRefusedAndNothingIsStopped() throws {
        // role=web: web-1..3 run; vault-1 carries ebb:protected=true and does not count.
        let run = try run(suite("      - cloud.aws.instance-stop: { tags: [role=web], max_instances: 2 }"))
        let status = run.wait()
        // A preflight refusal is the project's plan error: the scenario is not run (exit 4).
        #expect(status == ExitStatus.inconclusive.rawValue, "\(run.stdout)\n\(run.stderr)")
        #expect(
            run.stdout.contains("would stop 3 instances") && run.stdout.contains("more than max_instances 2"),
            "\(run.stdout)")
        #expect(run.stdout.contains("1 tagged ebb:protected=true left out"), "\(run.stdout)")
        #expect(emulator.states().values.allSatisfy { $0 == "running" }, "\(emulator.states())")
        #expect(workspace.runIDs().count == 1)
        // Instance ids over the cap are refused when the suite loads: ebb validate exits 3.
        let ids = try workspace.write(
            suite: suite("      - cloud.aws.instance-stop: { instance_ids: [\(try id("web-1")), \(try id("web-2"))] }"),
            name: "ids.yaml")
        let validate = try EbbRun(["validate", ids], in: workspace.url, environment: environment)
        #expect(validate.wait() == ExitStatus.invalidInput.rawValue, "\(validate.stdout)\n\(validate.stderr)")
        #expect(validate.stderr.contains("more than max_instances 1"), "\(validate.stderr)")
    }

    @Test func rollbackExecuteStartsTheInstanceFromTheJournalAloneAfterASIGKILL() throws {
        let run = try run(
            suite("      - cloud.aws.instance-stop: { tags: [role=batch] }", hold: "5m"), ["--no-guardian"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(emulator.state("batch-1") == "stopped", "no guardian: the instance stays stopped")
        // Neither the suite nor the endpoint, region or tags it named are needed: the record
        // holds them. The environment's endpoint points at a dead port, so only the recorded
        // one can reach the emulator; the keys still come from the environment.
        try FileManager.default.removeItem(atPath: workspace.url.appendingPathComponent("suite.yaml").path)
        var recovery = environment
        recovery["AWS_ENDPOINT_URL_EC2"] = "http://127.0.0.1:9"
        recovery["AWS_REGION"] = ""
        let execute = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: recovery)
        #expect(execute.wait() == 0, "\(execute.stdout)\n\(execute.stderr)")
        #expect(emulator.state("batch-1") == "running")
        let again = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: recovery)
        #expect(again.wait() == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(emulator.state("batch-1") == "running")
    }

    @Test func theGuardianStartsTheInstanceWhenTheRunnerIsKilled() throws {
        let run = try run(suite("      - cloud.aws.instance-stop: { tags: [pool=chaos] }", hold: "5m"))
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        #expect(emulator.state("node-1") == "stopped")
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        let emulator = emulator
        #expect(
            eventually(timeout: .seconds(60)) { emulator.state("node-1") == "running" }, "the guardian started node-1")
        workspace.waitForGuardians(timeout: .seconds(60))
    }

    @Test func anInstanceTerminatedMeanwhileIsReportedNotACrash() throws {
        let run = try run(
            suite("      - cloud.aws.instance-stop: { tags: [pool=chaos] }", hold: "5m"), ["--no-guardian"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        #expect(emulator.terminate("node-1"))
        #expect(emulator.state("node-1") == "terminated")
        let execute = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: environment)
        #expect(execute.wait() == 0, "\(execute.stdout)\n\(execute.stderr)")
        #expect(
            "\(execute.stdout)\(execute.stderr)".contains("is terminated (not by Ebb)"),
            "\(execute.stdout)\n\(execute.stderr)")
        #expect(emulator.state("node-1") == "terminated", "a terminated instance is never started")
    }

    @Test func theSignaturesHoldOnTheWireAndAWrongSecretIsRefused() throws {
        // moto recomputes each signature from the request as it arrived (Host with the port,
        // the form body), so this checks the signing end to end, beyond the test vectors.
        let verifying = try EC2Emulator(in: workspace.url, verifyingSignatures: true)
        let keys = try unwrap(verifying.keys)
        var signed = verifying.environment(in: workspace.url)
        signed["AWS_ACCESS_KEY_ID"] = keys.id
        signed["AWS_SECRET_ACCESS_KEY"] = keys.secret
        signed["AWS_SESSION_TOKEN"] = ""
        let path = try workspace.write(
            suite: suite("      - cloud.aws.instance-stop: { tags: [role=batch] }", hold: "1s"))
        let run = try EbbRun(
            ["run", path, "--state-dir", workspace.state.path], in: workspace.url, environment: signed)
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(
            run.stdout.contains("ok   inject: cloud.aws.instance-stop")
                && run.stdout.contains("ok   rollback: cloud.aws.instance-stop"), "\(run.stdout)")
        signed["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        let refused = try EbbRun(
            ["run", path, "--state-dir", workspace.state.path], in: workspace.url, environment: signed)
        #expect(refused.wait() == ExitStatus.inconclusive.rawValue, "\(refused.stdout)\n\(refused.stderr)")
        #expect(
            refused.stdout.contains(
                "EC2 DescribeInstances at \(verifying.endpoint) (region us-east-1): HTTP 401 AuthFailure"),
            "\(refused.stdout)")
    }

    @Test func nodeReadyWaitsForTheKubernetesNodeOnTheStartedInstance() throws {
        // The Kubernetes emulator holds the node the AWS cloud provider would register for
        // node-1: its providerID names the instance.
        let path = KubeResource.nodes.path("ip-10-0-0-1.ec2.internal", in: nil)
        let kube = try KubeEmulator(
            in: workspace.url,
            seed: [
                [
                    "apiVersion": "v1", "kind": "Node", "metadata": ["name": "ip-10-0-0-1.ec2.internal"],
                    "spec": ["providerID": .string("aws:///us-east-1a/\(try id("node-1"))")],
                    "status": ["conditions": [["type": "Ready", "status": "True"]]],
                ]
            ])
        let kubeconfig = try kube.kubeconfig()
        let faults =
            "      - cloud.aws.instance-stop: { tags: [pool=chaos], node_ready: true, kubeconfig: \(kubeconfig), running_timeout: 3s }"
        let stopped = try run(suite(faults, hold: "2s"))
        #expect(stopped.waitForOutput("holding for"), "\(stopped.stdout)\n\(stopped.stderr)")
        // The node goes NotReady with its instance, and stays so: the instance runs again, the
        // node does not come back, and the rollback says which node is not Ready.
        try kube.patch(path, ["status": ["conditions": [["type": "Ready", "status": "False"]]]])
        #expect(stopped.wait() == ExitStatus.rollbackIncomplete.rawValue, "\(stopped.stdout)\n\(stopped.stderr)")
        #expect(
            stopped.stdout.contains("node ip-10-0-0-1.ec2.internal on \(try id("node-1")) (node-1): Ready False"),
            "\(stopped.stdout)")
        #expect(emulator.state("node-1") == "running")
        // Once the node is Ready, the record verifies, from the journal alone.
        try kube.patch(path, ["status": ["conditions": [["type": "Ready", "status": "True"]]]])
        let execute = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: environment)
        #expect(execute.wait() == 0, "\(execute.stdout)\n\(execute.stderr)")
        // An instance with no node is refused at preflight when node_ready asks for one.
        let none = try run(
            suite(
                "      - cloud.aws.instance-stop: { tags: [role=batch], node_ready: true, kubeconfig: \(kubeconfig) }"))
        #expect(none.wait() == ExitStatus.inconclusive.rawValue, "\(none.stdout)\n\(none.stderr)")
        #expect(none.stdout.contains("no Kubernetes node"), "\(none.stdout)")
        #expect(emulator.state("batch-1") == "running")
    }

    @Test func anInstanceEC2NoLongerKnowsFailsTheRollbackClosed() throws {
        let run = try run(
            suite("      - cloud.aws.instance-stop: { tags: [role=batch] }", hold: "5m"), ["--no-guardian"])
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        run.signal(SIGKILL)
        _ = run.wait()
        // moto forgets every instance, as EC2 forgets one terminated long ago, or as another
        // account's keys would see it: the undo cannot tell which, so it fails, for a person.
        #expect(emulator.reset())
        let execute = try EbbRun(
            ["rollback", "execute", "--all", "--state-dir", workspace.state.path], in: workspace.url,
            environment: environment)
        #expect(execute.wait() == ExitStatus.rollbackIncomplete.rawValue, "\(execute.stdout)\n\(execute.stderr)")
        #expect(
            "\(execute.stdout)\(execute.stderr)".contains("does not know \(try id("batch-1")) (batch-1)"),
            "\(execute.stdout)\n\(execute.stderr)")
    }

    @Test func aRebootIsRecordedAsSelfEndingAndVerifiedRunning() throws {
        let run = try run(
            suite("      - cloud.aws.instance-reboot: { instance_ids: [\(try id("web-2"))] }", hold: "1s"))
        #expect(run.wait() == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("a reboot cannot be undone; it ends by itself"), "\(run.stdout)")
        #expect(emulator.state("web-2") == "running")
        let summary = try String(
            contentsOf: workspace.url.appendingPathComponent("reports/rollback-summary.json"), encoding: .utf8)
        #expect(summary.contains("cloud.aws.instance-reboot") && summary.contains("reverted"), "\(summary)")
    }

    @Test func pluginsValidateAndTheExampleSuiteKnowTheAWSFaults() throws {
        let plugins = try EbbRun.run(["plugins"], in: workspace.url)
        for text in [
            "cloud.aws.instance-stop", "cloud.aws.instance-reboot", "max_instances", "instance_ids", "running_timeout",
        ] {
            #expect(plugins.stdout.contains(text), "\(text) missing from ebb plugins")
        }
        let example = EC2Emulator.repository.appendingPathComponent("Scenarios/aws-nodes.yaml").path
        let valid = try EbbRun(["validate", example], in: workspace.url, environment: environment)
        #expect(valid.wait() == 0, "\(valid.stdout)\n\(valid.stderr)")
        // No region anywhere: refused at preflight, nothing injected.
        var noRegion = environment
        noRegion["AWS_REGION"] = ""
        let path = try workspace.write(
            suite: suite("      - cloud.aws.instance-stop: { tags: [role=batch] }"), name: "no-region.yaml")
        let refused = try EbbRun(
            ["run", path, "--state-dir", workspace.state.path], in: workspace.url, environment: noRegion)
        #expect(refused.wait() == ExitStatus.inconclusive.rawValue, "\(refused.stdout)\n\(refused.stderr)")
        #expect(refused.stdout.contains("no AWS region"), "\(refused.stdout)")
        #expect(emulator.state("batch-1") == "running")
    }

    @Test func theExampleSuiteStartsItsOwnEmulatorAndRevertsEveryFault() throws {
        // The suite's fixture starts moto itself, on a port of its own, with the Python given.
        let port = try freePort()
        let example = EC2Emulator.repository.appendingPathComponent("Scenarios/aws-nodes.yaml").path
        var environment = environment
        environment["EBB_AWS_EMULATOR_PORT"] = String(port)
        environment["AWS_ENDPOINT_URL_EC2"] = ""
        let run = try EbbRun(
            ["run", example, "--state-dir", workspace.state.path], in: workspace.url, environment: environment)
        let status = run.wait()
        let fixtureLog =
            (try? String(
                contentsOf: workspace.url.appendingPathComponent("reports/logs/fixture-ec2.log"), encoding: .utf8))
            ?? ""
        #expect(status == 0, "\(run.stdout)\n\(run.stderr)\n\(fixtureLog)")
        #expect(run.stdout.contains("Faults:    2 reverted"), "\(run.stdout)")
    }
}
