import EbbCore
import Foundation

extension HTMLReport {
    /// Writes the page of `summary` to `url` (atomically: a reader never sees half a page);
    /// returns its path.
    @discardableResult
    public static func write(_ summary: RollbackSummary, to url: URL) throws -> String {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(render(summary).utf8).write(to: url, options: .atomic)
        return url.path
    }

    /// Reads a `rollback-summary.json` (with or without its timeline section).
    public static func summary(from url: URL) throws -> RollbackSummary {
        try JSONDecoder.journal.decode(RollbackSummary.self, from: Data(contentsOf: url))
    }
}
