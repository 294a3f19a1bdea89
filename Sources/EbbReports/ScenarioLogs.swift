import EbbCore
import Foundation
import Synchronization

/// Writes the full, untruncated story of each scenario to `<report dir>/logs/<scenario>.log`;
/// the JUnit file keeps a truncated copy and points here with `[[ATTACHMENT|...]]`.
public final class ScenarioLogs: Sendable {
    public let directory: URL
    /// Open log files by scenario; written under the lock so lines of concurrent events never interleave.
    private let handles = Mutex<[String: FileHandle]>([:])

    private let redactor: SecretRedactor

    public init(reportDirectory: URL, redactor: SecretRedactor = .shared) {
        directory = reportDirectory.appending(path: "logs")
        self.redactor = redactor
    }

    /// The log file of `scenario`, relative paths being what CI attachment syntax wants.
    public func path(for scenario: String) -> URL {
        directory.appending(path: Self.fileName(scenario))
    }

    static func fileName(_ scenario: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        return String(scenario.map { allowed.contains($0) ? $0 : "_" }) + ".log"
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .scenarioStarted(let suite, let name, let faults, let duration):
            append(name, "scenario \(suite) / \(name): \(faults) fault(s), hold \(DurationText.format(duration))")
        case .holding(let scenario, let duration):
            append(scenario, "holding for \(DurationText.format(duration))")
        case .step(let scenario, let step):
            var line =
                "\(step.status.rawValue.uppercased()) \(step.name) (\(String(format: "%.3f", step.duration.seconds))s)"
            if let text = step.reportText { line += "\n    " + text.replacingOccurrences(of: "\n", with: "\n    ") }
            for (key, value) in step.properties.sorted(by: { $0.key < $1.key }) { line += "\n    \(key): \(value)" }
            append(scenario, line)
        case .rollingBack(let scenario, let faults):
            append(scenario, "rolling back \(faults) fault(s), newest first")
        case .signal(let number, let duringRollback):
            handles.withLock { handles in
                for handle in handles.values {
                    try? handle.write(
                        contentsOf: Data(
                            "\(Self.stamp()) signal \(number)\(duringRollback ? " during rollback" : "")\n".utf8))
                }
            }
        case .scenarioFinished(let result):
            append(
                result.name,
                "finished: \(result.interrupted ? "interrupted" : result.status == .passed ? "passed" : "not passed")")
            handles.withLock { try? $0.removeValue(forKey: result.name)?.close() }
        default:
            break
        }
    }

    private func append(_ scenario: String, _ text: String) {
        handles.withLock { handles in
            if handles[scenario] == nil {
                try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let url = path(for: scenario)
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
                handles[scenario] = try? FileHandle(forWritingTo: url)
            }
            try? handles[scenario]?.write(contentsOf: Data("\(Self.stamp()) \(redactor.redact(text))\n".utf8))
        }
    }

    static func stamp() -> String { UTCTime.string(Date()) }
}
