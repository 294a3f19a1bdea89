import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's chromium, headless, as the report tests' real browser. Root needs `--no-sandbox`;
/// each call gets its own profile folder so that parallel runs never share one.
enum Browser {
    static let path = "/usr/bin/chromium"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: path) }

    private static func run(
        _ arguments: [String], page: URL, in directory: URL
    ) throws -> (status: Int32?, output: String) {
        let profile = directory.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6))")
        let log = directory.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6)).out").path
        let errors = directory.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6)).err").path
        let pid = try ChildProcess.spawn(
            [
                path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile.path)",
            ] + arguments + [page.absoluteString],
            directory: directory.path, outputPath: log, errorPath: errors)
        let status = ChildProcess.wait(pid, timeout: .seconds(120))
        // Chromium forks helpers into its process group (its own: spawn made one), so the group goes.
        if status == nil { kill(-pid, SIGKILL); _ = ChildProcess.wait(pid, timeout: nil) }
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// The page's DOM after the browser parsed it, serialized.
    static func dom(of page: URL, in directory: URL) throws -> String {
        let (status, output) = try run(["--dump-dom"], page: page, in: directory)
        guard status == 0 else {
            throw BrowserFailure(description: "chromium --dump-dom exited \(status.map(String.init) ?? "late")")
        }
        return output
    }

    /// Writes a screenshot of the page's first `height` pixels and returns its statistics.
    static func screenshot(
        of page: URL, to png: URL, width: Int = 1200, height: Int = 1600, in directory: URL
    ) throws -> PNGStats {
        let (status, _) = try run(
            ["--screenshot=\(png.path)", "--window-size=\(width),\(height)", "--hide-scrollbars"], page: page,
            in: directory)
        guard status == 0, FileManager.default.fileExists(atPath: png.path) else {
            throw BrowserFailure(
                description:
                    "chromium --screenshot exited \(status.map(String.init) ?? "late") without \(png.lastPathComponent)"
            )
        }
        return try PNGStats(of: png, in: directory)
    }
}

struct BrowserFailure: Error, CustomStringConvertible {
    var description: String
}

/// What a screenshot shows, read by ci/png-stats.py (Python's standard library decodes the PNG).
struct PNGStats: Decodable {
    var width: Int
    var height: Int
    var colours: Int
    var foreground: Int
    var red: Int

    init(of png: URL, in directory: URL) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../ci/png-stats.py"
        ).standardized.path
        let log = directory.appendingPathComponent("png-\(UUID().uuidString.prefix(6)).json").path
        let pid = try ChildProcess.spawn(["python3", script, png.path], directory: directory.path, outputPath: log)
        guard ChildProcess.wait(pid, timeout: .seconds(120)) == 0 else {
            throw BrowserFailure(
                description: "png-stats.py failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        self = try JSONDecoder().decode(PNGStats.self, from: Data(contentsOf: URL(fileURLWithPath: log)))
    }
}
