import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built binary against hostile suites: includes that reach outside the suite's folder,
/// absurd nesting, and secrets that must never reach a report, a log, the journal or the console.
@Suite(.ownThread) struct InputSafetyTests {
    static let scenario = """
        scenarios:
          - name: one
            duration: 100ms
            faults:
              - command: { inject: [true], rollback: [true] }
        """

    /// Runs `ebb validate` on `suite` (written to `suites/suite.yaml`) with a secret in the environment.
    func validate(_ suite: String, in workspace: Workspace, secret: String) throws -> (status: Int32, output: String) {
        let folder = workspace.url.appendingPathComponent("suites")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("suite.yaml").path
        try suite.write(toFile: path, atomically: true, encoding: .utf8)
        let run = try EbbRun(["validate", path], in: workspace.url, environment: ["EBB_TEST_SECRET": secret])
        let status = run.wait()
        return (status, run.stdout + run.stderr)
    }

    @Test func includesOfProcFilesOrFilesOutsideTheSuitesFolderAreRefusedAndNeverEchoed() throws {
        let workspace = try Workspace()
        let secret = "s3cret-\(UUID().uuidString.prefix(12))"
        let folder = workspace.url.appendingPathComponent("suites")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "checks:\n  - { name: outside, tcp: { address: \"127.0.0.1:1\" } }\n"
            .write(to: workspace.url.appendingPathComponent("outside.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("link.yaml").path,
            withDestinationPath: "../outside.yaml")
        for include in ["/proc/self/environ", "../outside.yaml", "link.yaml"] {
            let (status, output) = try validate(
                "include: [\(include)]\n" + Self.scenario, in: workspace, secret: secret)
            #expect(status == 3, "\(include): \(output)")
            #expect(output.contains("suite.yaml:1:"), "\(include): \(output)")
            #expect(
                output.contains("include[0]") && output.contains("outside the suite's folder"), "\(include): \(output)")
            #expect(!output.contains(secret), "\(include): the secret was printed")
            #expect(!output.contains("EBB_TEST_SECRET"), "\(include): the environment was printed")
        }
        // An explicit include root lets the same file in.
        let (status, output) = try validate(
            "include: [../outside.yaml]\ninclude_roots: [..]\n" + Self.scenario, in: workspace, secret: secret)
        #expect(status == 0, "\(output)")
    }

    @Test func aHundredThousandOpenBracketsExitThreeInsteadOfCrashing() throws {
        let workspace = try Workspace()
        let (status, output) = try validate(
            "scenarios: " + String(repeating: "[", count: 100_000) + "\n", in: workspace, secret: "unused")
        #expect(status == 3, "\(output.prefix(500))")
        #expect(output.contains("suite.yaml:1:") && output.contains("nested deeper than 64"), "\(output.prefix(500))")
        #expect(output.count < 1000)
    }

    @Test func aSecretNamedInSecretEnvNeverReachesReportsLogsJournalOrConsole() throws {
        let workspace = try Workspace()
        let secret = "tok-\(UUID().uuidString)"
        let suite = try workspace.write(
            suite: """
                suite: secrets
                secret_env: [MY_SECRET]
                scenarios:
                  - name: leak
                    duration: 100ms
                    faults:
                      - command:
                          inject: [sh, -c, "echo injecting with $MY_SECRET"]
                          rollback: [sh, -c, "echo rolling back $MY_SECRET"]
                          verify: [sh, -c, "echo still there: $MY_SECRET; exit 1"]
                """)
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path, "--report-dir", "reports"], in: workspace.url,
            environment: ["MY_SECRET": secret])
        let status = run.wait()
        let console = run.stdout + run.stderr
        // The verify step fails on purpose so that its output (the secret) reaches every sink.
        #expect(status == 2, "\(console)")
        #expect(!console.contains(secret), "the console shows the secret")
        #expect(console.contains("[redacted]"), "\(console)")
        var seen = 0
        var redacted = 0
        for root in [workspace.url.appendingPathComponent("reports"), workspace.state] {
            let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = enumerator?.nextObject() as? URL {
                guard let data = try? Data(contentsOf: url), !url.hasDirectoryPath else { continue }
                seen += 1
                let text = String(decoding: data, as: UTF8.self)
                #expect(!text.contains(secret), "\(url.path) holds the secret")
                if text.contains("[redacted]") { redacted += 1 }
            }
        }
        #expect(seen >= 4, "reports and records were written")
        #expect(redacted >= 3, "junit, summary and the record's message show the marker")
        let junit = workspace.url.appendingPathComponent("reports/junit.xml").path
        let mode = try FileManager.default.attributesOfItem(atPath: junit)[.posixPermissions] as? Int
        #expect(mode == 0o644, "redacted reports hold no secret")
    }

    /// Every file under the reports and the journal, with the number that show the marker;
    /// records an issue for each that holds `secret`.
    func scan(_ workspace: Workspace, for secret: String) -> (files: Int, redacted: Int) {
        var files = 0
        var redacted = 0
        for root in [workspace.url.appendingPathComponent("reports"), workspace.state] {
            let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = enumerator?.nextObject() as? URL {
                guard let data = try? Data(contentsOf: url), !url.hasDirectoryPath else { continue }
                files += 1
                let text = String(decoding: data, as: UTF8.self)
                #expect(!text.contains(secret), "\(url.path) holds the secret")
                if text.contains("[redacted]") { redacted += 1 }
            }
        }
        return (files, redacted)
    }

    @Test func theGuardianRedactsTheSecretsOfTheRunItRecovers() throws {
        let workspace = try Workspace()
        let secret = "gtok-\(UUID().uuidString)"
        let suite = try workspace.write(
            suite: """
                secret_env: [MY_SECRET]
                scenarios:
                  - name: leak
                    duration: 5m
                    faults:
                      - command:
                          inject: [true]
                          rollback: [sh, -c, "echo rolling back $MY_SECRET"]
                          verify: [sh, -c, "echo still there: $MY_SECRET; exit 1"]
                """)
        let run = try EbbRun(
            ["run", suite, "--state-dir", workspace.state.path], in: workspace.url, environment: ["MY_SECRET": secret])
        #expect(run.waitForOutput("holding for"))
        let runID = try unwrap(workspace.runIDs().first)
        run.signal(SIGKILL)
        #expect(run.wait() == 137)
        #expect(
            eventually {
                FileManager.default.fileExists(
                    atPath: workspace.url.appendingPathComponent("reports/rollback-summary-\(runID).md").path)
            })
        workspace.waitForGuardians()
        let (files, redacted) = scan(workspace, for: secret)
        #expect(files >= 4)
        #expect(redacted >= 2, "the record's message and the guardian's reports show the marker")
    }
}
