import Foundation
import Logging

extension FixtureSupervisor {
    /// Arms the setup record that stops `proxy`, then starts it: a crash while it listens leaves
    /// a record that says what went down with the runner.
    func start(_ proxy: any SuiteProxy, sequence: Int, logger: Logger) throws {
        let plan = try proxy.plan(runID: scope.journal.runID)
        let runID = scope.journal.runID
        try scope.armAndAct(
            Arming(fault: "proxy \(proxy.name)", plugin: FixtureProcess.plugin, plan: plan, sequence: sequence) {
                try proxy.start(plan, runID: runID, logger: logger)
                return nil
            }, lifetime: lifetime)
    }
}
