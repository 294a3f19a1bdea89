import EbbCore
import Foundation

/// A made-up run of any size, for benchmarking the report writers (`ebb report synthesize`).
/// Every fourth step fails, and messages carry the awkward text real tools print.
public enum SyntheticRun {
    /// The run's scenarios one at a time, as a runner finishes them: a report writer that keeps
    /// up holds one scenario in memory, not the run.
    public static func forEachScenario(testcases: Int, scenarios: Int, _ body: (ScenarioResult) throws -> Void) rethrows
    {
        let perScenario = max(1, testcases / max(1, scenarios))
        var made = 0
        var index = 0
        while made < testcases {
            var scenario = ScenarioResult(suite: "bench", name: "scenario-\(index)", startedAt: Date())
            for step in 0..<min(perScenario, testcases - made) {
                let failed = step % 4 == 3
                scenario.steps.append(
                    StepResult(
                        kind: step % 2 == 0 ? .inject : .rollback,
                        name: "\(step % 2 == 0 ? "inject" : "rollback"): fault-\(step)",
                        status: failed ? .failed : .passed,
                        message: failed ? "\u{1B}[31mmeasured 812ms > limit 500ms\u{1B}[0m ]]> naïve – ✓" : nil,
                        duration: .milliseconds(step % 1000), properties: ["target": "/srv/file-\(step)"]))
            }
            made += scenario.steps.count
            try body(scenario)
            index += 1
        }
    }
}
