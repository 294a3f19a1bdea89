import EbbCore
import EbbReports
import Foundation
import Testing

@Suite struct ReportRedactionTests {
    func result(message: String) -> RunResult {
        var result = RunResult(runID: "r1", journalDirectory: nil, startedAt: Date())
        var scenario = ScenarioResult(suite: "s", name: "leak", startedAt: Date())
        scenario.steps = [
            StepResult(
                kind: .rollback, name: "rollback: command", status: .failed, message: message,
                properties: ["target": message])
        ]
        result.scenarios = [scenario]
        return result
    }

    @Test func junitHidesSecretsAndIsPrivateOnlyWhileOneTooShortToRedactIsInIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-redact-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let redactor = SecretRedactor()
        redactor.register("long <secret> & more")
        redactor.register("x9z")
        let path = folder.appendingPathComponent("junit.xml").path
        func mode() throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }

        try JUnitWriter.write(
            result(message: "output: long <secret> & more"), to: path, options: JUnitOptions(), redactor: redactor)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            !text.contains("long <secret>") && !text.contains("long &lt;secret&gt;") && text.contains("[redacted]"),
            "\(text)")
        #expect(try mode() == 0o644)

        try JUnitWriter.write(result(message: "short one: x9z"), to: path, options: JUnitOptions(), redactor: redactor)
        text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("x9z"))
        #expect(try mode() == 0o600)
    }
}
