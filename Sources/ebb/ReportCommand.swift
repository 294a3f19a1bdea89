import ArgumentParser
import EbbBench
import EbbCore
import EbbReports
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Work with Ebb's reports.",
        subcommands: [ValidateReport.self, HTMLReportCommand.self, SynthesizeReport.self]
    )

    struct ValidateReport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Validate a JUnit XML file with libxml2 and print each error with its line.",
            discussion:
                "Without --schema the file is checked against the schema of --flavor: portable = junit-10.xsd (Jenkins xUnit), ant = JUnit.xsd (Ant, Azure DevOps). Exit 0 when valid, 1 when not, 3 when a file cannot be read."
        )

        @Argument(help: "The XML file to validate.") var file: String
        @Option(help: ArgumentHelp("An XSD to validate against instead of a built-in one.", valueName: "xsd"))
        var schema: String?
        @Option(help: "Built-in schema to use without --schema: portable or ant.") var flavor: JUnitFlavor = .portable

        func run() throws {
            let problems: [SchemaProblem]
            do {
                if let schema {
                    problems = try SchemaValidator.validate(file: file, schema: schema)
                } else {
                    problems = try SchemaValidator.validate(
                        file: file, schemaText: flavor == .ant ? EmbeddedSchemas.ant : EmbeddedSchemas.portable,
                        name: flavor == .ant ? "JUnit.xsd (built in)" : "junit-10.xsd (built in)")
                }
            } catch {
                Wiring.printError("error: \(error)")
                throw ExitCode(.invalidInput)
            }
            guard problems.isEmpty else {
                problems.forEach { Wiring.printError("\(file):\($0.line): \($0.message)") }
                throw ExitCode(1)
            }
            print(
                "\(file): valid against \(schema ?? (flavor == .ant ? "JUnit.xsd (built in)" : "junit-10.xsd (built in)"))"
            )
        }
    }

    /// Writes a synthetic report of many testcases: the fixture of the JUnit benchmark (ci/bench).
    struct SynthesizeReport: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "synthesize", shouldDisplay: false)

        @Option var testcases = 100_000
        @Option var scenarios = 100
        @Option var output: String
        @Option var flavor: JUnitFlavor = .portable

        func run() throws {
            // Streamed as a runner's results arrive: one scenario in memory at a time.
            let stream = try JUnitStream(
                path: output, options: JUnitOptions(flavor: flavor, logPathForScenario: { _ in nil }),
                runID: "bench", journalDirectory: URL(fileURLWithPath: "/tmp/ebb-bench"), startedAt: Date())
            try SyntheticRun.forEachScenario(testcases: testcases, scenarios: scenarios) {
                try stream.append($0, signal: nil)
            }
            try stream.finish(setupSteps: [], duration: .zero, signal: nil)
        }
    }
}

extension JUnitFlavor: ExpressibleByArgument {}
