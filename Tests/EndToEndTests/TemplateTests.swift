import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// The CI templates users copy must parse, every `ebb` command and flag they use must exist in
/// this build's `--help`, and their shell steps must work as written on a clean Debian root.
@Suite(.ownThread) struct TemplateTests {
    static let templates = SchemaTests.repository.appendingPathComponent("ci/templates")

    @Test func theYAMLTemplatesParse() throws {
        let files =
            ["github-actions.yml", "gitlab-ci.yml"].map { Self.templates.appendingPathComponent($0).path }
            + [SchemaTests.repository.appendingPathComponent("action.yml").path]
        let script =
            "import sys, yaml\nfor path in sys.argv[1:]:\n    assert isinstance(yaml.safe_load(open(path)), dict), path\n"
        let result = try ChildProcess.run(["/usr/bin/python3", "-c", script] + files, timeout: .seconds(60))
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func theKubernetesTemplatesParseAndHoldTheirObjects() throws {
        let files = ["rbac.yaml", "cronjob.yaml", "sweep-cronjob.yaml"].map {
            Self.templates.appendingPathComponent("kubernetes/\($0)").path
        }
        let script =
            "import sys, yaml\nfor path in sys.argv[1:]:\n    print(' '.join(d['kind'] for d in yaml.safe_load_all(open(path))))\n"
        let result = try ChildProcess.run(["/usr/bin/python3", "-c", script] + files, timeout: .seconds(60))
        #expect(result.status == 0, "\(result.output)")
        #expect(
            result.output.contains("ServiceAccount Role RoleBinding ClusterRole ClusterRoleBinding"), "\(result.output)"
        )
        #expect(result.output.contains("PersistentVolumeClaim ConfigMap CronJob"), "\(result.output)")
        let kinds = result.output.split(separator: "\n").map(String.init)
        #expect(
            kinds.count == 3 && kinds[0].hasSuffix("ClusterRoleBinding ServiceAccount ClusterRole ClusterRoleBinding")
                && kinds[2] == "CronJob",
            "the sweep's account, its rights and its CronJob: \(result.output)")
    }

    @Test func theJenkinsfileCompilesAsGroovy() throws {
        let groovyc = "/usr/bin/groovyc"
        try #require(
            FileManager.default.isExecutableFile(atPath: groovyc),
            "groovyc is missing: ci/test.sh installs Debian's groovy")
        let workspace = try Workspace()
        // Debian's groovy looks for /usr/lib/jvm/default-java; point it at the java on PATH.
        let java = URL(fileURLWithPath: ChildProcess.resolve("java")).resolvingSymlinksInPath()
        let javaHome = java.deletingLastPathComponent().deletingLastPathComponent().path
        let result = try ChildProcess.run(
            [
                groovyc, "-d", workspace.url.appendingPathComponent("classes").path,
                Self.templates.appendingPathComponent("Jenkinsfile").path,
            ],
            timeout: .seconds(120), environment: ["JAVA_HOME": javaHome])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func everyEbbCommandAndFlagInTheTemplatesExists() throws {
        let workspace = try Workspace()
        let top = try EbbRun.run(["--help"], in: workspace.url).stdout
        var helps: [String: String] = [:]
        var used = 0
        for name in [
            "github-actions.yml", "gitlab-ci.yml", "Jenkinsfile", "kubernetes/cronjob.yaml",
            "kubernetes/sweep-cronjob.yaml", "../../action.yml",
        ] {
            let text = try String(contentsOf: Self.templates.appendingPathComponent(name), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let code = line.split(separator: "#").first.map(String.init) ?? ""
                guard let range = code.range(of: #"\bebb [a-z]+"#, options: .regularExpression) else { continue }
                let first = String(code[range].dropFirst(4))
                #expect(top.contains("  \(first) "), "\(name): 'ebb \(first)' is not in ebb --help")
                if helps[first] == nil { helps[first] = try EbbRun.run([first, "--help"], in: workspace.url).stdout }
                // A command with subcommands (`ebb rollback execute`): its flags are the subcommand's.
                var command = first
                var rest = code[range.upperBound...]
                if let sub = rest.split(separator: " ").first, helps[first]?.contains("SUBCOMMANDS") == true,
                    helps[first]?.contains("  \(sub) ") == true
                {
                    command = "\(first) \(sub)"
                    rest = rest.drop { $0 == " " }.dropFirst(sub.count)
                    if helps[command] == nil {
                        helps[command] = try EbbRun.run([first, String(sub), "--help"], in: workspace.url).stdout
                    }
                }
                let flags = rest.matches(of: /--[a-z][a-z-]*/).map { String($0.output) }
                for flag in flags {
                    used += 1
                    #expect(
                        helps[command]?.contains(flag) == true, "\(name): 'ebb \(command) \(flag)' is not in its --help"
                    )
                }
            }
        }
        #expect(used >= 6)
    }

    struct Template: Decodable {
        struct Step: Decodable {
            let name: String
            let shell: String
            let script: String
            let env: [String: String]
        }
        let template: String
        let steps: [Step]
    }

    /// Each template's shell steps (GitHub's through action.yml), run as written in a fresh clean
    /// Debian root that holds a repository with the demo suite in `suites/`: install Ebb from the
    /// release URL (here a file:// folder laid out like the releases, holding this build's .deb),
    /// validate, run the demo, roll back. Only the version and the release URL are overridden.
    @Test(
        .enabled(if: Packaged.deb != nil, Packaged.needsDeb), .enabled(if: Packaged.isRoot, Packaged.needsRoot),
        arguments: ["github-actions.yml (action.yml)", "gitlab-ci.yml", "Jenkinsfile"])
    func theTemplateStepsInstallValidateAndRunTheDemoInACleanDebianRoot(template name: String) throws {
        let deb = try #require(Packaged.deb)
        let version = try Packaged.version
        let steps = try ChildProcess.run(
            [
                "/usr/bin/python3",
                SchemaTests.repository.appendingPathComponent("Tests/Fixtures/template_steps.py").path,
                SchemaTests.repository.path,
            ], timeout: .seconds(60))
        try #require(steps.status == 0, "\(steps.output)")
        let templates = try JSONDecoder().decode([Template].self, from: Data(steps.output.utf8))
        let template = try #require(templates.first { $0.template == name })
        #expect(template.steps.count >= 3)

        let root = try CleanRoot()
        let scenarios = SchemaTests.repository.appendingPathComponent("Scenarios").path
        let setup = try Packaged.shell(
            """
            mkdir -p '\(root.path)/release/v\(version)' '\(root.path)/work/suites'
            cp '\(deb)' '\(root.path)/release/v\(version)/'
            cp -r '\(scenarios)/demo.yaml' '\(scenarios)/demo-files' '\(root.path)/work/suites/'
            """)
        try #require(setup.status == 0, "\(setup.output)")
        let overrides = ["EBB_VERSION": version, "EBB_RELEASES": "file:///release"]
        for step in template.steps {
            let env = step.env.merging(overrides) { _, new in new }
                .filter { step.env[$0.key] != nil }
                .map { "export \($0.key)='\($0.value.replacingOccurrences(of: "'", with: "'\\''"))'" }
                .sorted().joined(separator: "\n")
            // Only the install step reaches the network (Debian's archive); the demo's service
            // listens on the loopback of a network namespace of its own.
            let installs = step.script.contains("apt-get install")
            let shell = step.shell == "sh" ? ["sh", "-x", "-e"] : ["bash", "-e", "-o", "pipefail"]
            let result = try root.run(
                "cd /work\n\(env)\n\(step.script)\n", network: installs, shell: shell, timeout: .seconds(900))
            #expect(result.status == 0, "\(name) / \(step.name) exited \(result.status):\n\(result.output)")
            if installs {
                #expect(
                    result.output.contains(version),
                    "\(name) / \(step.name) did not print the version:\n\(result.output)")
            }
        }
        let after = try root.run(
            """
            test -s /work/reports/junit.xml
            diff -r /usr/share/ebb/examples/demo-files /work/suites/demo-files
            ebb rollback list
            """)
        #expect(after.status == 0, "\(after.output)")
    }
}
