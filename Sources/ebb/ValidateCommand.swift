import ArgumentParser
import EbbCore
import EbbReports

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check suites without touching anything.",
        discussion:
            "Prints every problem as file:line:column: error: key: message. Exit 0 when all suites are valid, 3 otherwise."
    )

    @Argument(help: "Suite files (YAML).")
    var suites: [String]

    func run() throws {
        let loader = Wiring.loader
        var valid = true
        for path in suites {
            do {
                let suite = try loader.load(path: path)
                let faults = suite.scenarios.reduce(0) { $0 + $1.faults.count }
                let checks = suite.checks?.names.count ?? 0
                print(
                    "\(path): ok (suite \(suite.name), \(suite.scenarios.count) scenario(s), \(faults) fault(s), \(checks) check(s) and telemetry assertion(s))"
                )
            } catch {
                Wiring.printError("\(error)")
                valid = false
            }
        }
        if !valid { throw ExitCode(.invalidInput) }
    }
}
