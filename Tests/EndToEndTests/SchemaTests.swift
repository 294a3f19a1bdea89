import EbbCore
import EbbTestSupport
import Foundation
import Testing

/// `ebb schema` is what editors validate suites with, so every example suite must pass it and
/// a misspelt key must not. Validated by Debian's python3-jsonschema (draft 2020-12).
@Suite(.ownThread) struct SchemaTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
        .standardized

    @Test func theSchemaAcceptsEveryExampleSuiteAndRefusesAMisspeltKey() throws {
        let workspace = try Workspace()
        let (status, schema, stderr) = try EbbRun.run(["schema"], in: workspace.url)
        #expect(status == 0, "\(stderr)")
        let schemaPath = workspace.url.appendingPathComponent("suite.schema.json")
        try schema.write(to: schemaPath, atomically: true, encoding: .utf8)
        let suites = try FileManager.default.contentsOfDirectory(
            atPath: Self.repository.appendingPathComponent("Scenarios").path
        )
        .filter { $0.hasSuffix(".yaml") }.map { Self.repository.appendingPathComponent("Scenarios/\($0)").path }
        #expect(suites.count >= 2)
        let misspelt = try workspace.write(
            suite: """
                suite: typo
                scenarios:
                  - name: one
                    duraton: 1s
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """, name: "typo.yaml")
        let script = """
            import json, sys, yaml, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema)
            for path in sys.argv[2:]:
                errors = list(validator.iter_errors(yaml.safe_load(open(path))))
                print(path, "invalid" if errors else "valid", "; ".join(e.message[:120] for e in errors[:3]))
            """
        let result = try ChildProcess.run(
            ["/usr/bin/python3", "-c", script, schemaPath.path] + suites + [misspelt], timeout: .seconds(60))
        #expect(result.status == 0, "\(result.output)")
        let verdicts = Dictionary(
            result.output.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ", maxSplits: 2)
                return parts.count >= 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
        for suite in suites { #expect(verdicts[suite] == "valid", "\(suite): \(result.output)") }
        #expect(verdicts[misspelt] == "invalid", "\(result.output)")
    }
}
