import EbbCore
import Foundation

/// Writes the rollback summary files into a report folder, and appends the Markdown to
/// `$GITHUB_STEP_SUMMARY` when GitHub Actions provides one.
public enum SummaryFiles {
    /// Writes `<directory>/<baseName>.json` and `.md`; returns their paths.
    @discardableResult
    public static func write(_ summary: RollbackSummary, to directory: URL, baseName: String = "rollback-summary",
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let json = directory.appendingPathComponent("\(baseName).json")
        let markdown = directory.appendingPathComponent("\(baseName).md")
        let text = summary.markdown()
        try summary.json().write(to: json, options: .atomic)
        try Data(text.utf8).write(to: markdown, options: .atomic)
        if let step = environment["GITHUB_STEP_SUMMARY"], !step.isEmpty {
            if !FileManager.default.fileExists(atPath: step) { _ = FileManager.default.createFile(atPath: step, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: step))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((text + "\n").utf8))
        }
        return [json.path, markdown.path]
    }
}
