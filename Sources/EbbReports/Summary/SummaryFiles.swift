import EbbCore
import Foundation

/// Writes the rollback summary files into a report folder, and appends the Markdown to
/// `$GITHUB_STEP_SUMMARY` when GitHub Actions provides one.
public enum SummaryFiles {
    /// Writes `<directory>/<baseName>.json` and `.md`; returns their paths.
    @discardableResult
    public static func write(
        _ summary: RollbackSummary, to directory: URL, baseName: String = "rollback-summary",
        environment: [String: String] = ProcessInfo.processInfo.environment,
        redactor: SecretRedactor = .shared
    ) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let json = directory.appending(path: "\(baseName).json")
        let markdown = directory.appending(path: "\(baseName).md")
        let text = redactor.redact(summary.markdown())
        let jsonText = redactor.redact(String(decoding: try summary.json(), as: UTF8.self))
        try write(jsonText, to: json, redactor: redactor)
        try write(text, to: markdown, redactor: redactor)
        if let step = environment["GITHUB_STEP_SUMMARY"], !step.isEmpty {
            if !FileManager.default.fileExists(atPath: step) {
                _ = FileManager.default.createFile(atPath: step, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: step))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((text + "\n").utf8))
        }
        return [json.path, markdown.path]
    }

    /// Writes `text` atomically, created with the mode ``ReportMode`` picks (less the umask).
    private static func write(_ text: String, to url: URL, redactor: SecretRedactor) throws {
        let name = ".\(url.lastPathComponent).\(getpid()).tmp"
        let temporary = url.deletingLastPathComponent().appending(path: name).path
        let mode = ReportMode.mode(for: text, redactor: redactor)
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary]) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, url.path) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
    }
}
