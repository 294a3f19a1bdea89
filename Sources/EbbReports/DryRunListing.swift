import EbbCore

/// Renders `ebb run --dry-run`: each suite's proxies and checks, then each fault, its target and its undo.
public enum DryRunListing {
    public static func text(_ planned: [PlannedFault], suites: [Suite] = []) -> String {
        var lines = ["Dry run: nothing is touched."]
        for suite in suites where !suite.proxies.isEmpty {
            lines.append("\n\(suite.name): proxies (started only in a real run, before the fixtures)")
            lines += suite.proxies.map { "  \($0.outline)" }
        }
        for suite in suites {
            guard let outline = suite.checks?.outline, !outline.isEmpty else { continue }
            lines.append("\n\(suite.name): checks and telemetry (sampled only in a real run)")
            lines += outline.map { "  \($0)" }
        }
        var scenario = ""
        for fault in planned {
            if fault.scenario != scenario {
                scenario = fault.scenario
                lines.append("\n\(fault.suite) / \(fault.scenario)")
            }
            switch fault.plan {
            case .success(let plan):
                lines.append("  \(fault.fault) [\(fault.plugin)] \(fault.parameters)")
                lines.append("    target: \(plan.target)")
                lines.append("    undo:   \(plan.undoKind): \(plan.undoSummary)")
            case .failure(let problem):
                lines.append("  \(fault.fault) [\(fault.plugin)] cannot be planned: \(problem)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
