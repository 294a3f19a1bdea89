import Foundation
import Logging

/// What `ebb run --dry-run` prints for one fault: its target and its undo, decided without touching anything.
public struct PlannedFault: Sendable {
    public var suite: String
    public var scenario: String
    public var fault: String
    public var plugin: String
    public var parameters: JSONValue
    /// The plan, or why planning failed.
    public var plan: Result<FaultPlan, FaultError>
}

extension Runner {
    /// Plans every selected fault. Fixtures are not started, so faults aimed at them say so.
    public func dryRun() -> [PlannedFault] {
        var planned: [PlannedFault] = []
        for suite in suites {
            let context = suite.context
            for scenario in suite.scenarios
            where options.scenarioNames.isEmpty || options.scenarioNames.contains(scenario.name) {
                for (index, spec) in scenario.faults.enumerated() {
                    let faultContext = FaultContext(
                        runID: FaultContext.dryRunID,
                        runDirectory: options.stateDirectory.appending(path: "rollback/dry-run"),
                        sequence: index + 1, scenario: scenario.name, suite: context, fixturePIDs: [:],
                        logger: Logger(label: "ebb.dry-run"), services: options.services)
                    let plan = Result { try spec.fault.plan(faultContext) }.mapError {
                        FaultError(description: "\($0)")
                    }
                    planned.append(
                        PlannedFault(
                            suite: suite.name, scenario: scenario.name, fault: spec.name, plugin: spec.pluginID,
                            parameters: spec.parameters, plan: plan))
                }
            }
        }
        return planned
    }
}
