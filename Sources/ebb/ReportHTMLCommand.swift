import ArgumentParser
import EbbCore
import EbbReports
import Foundation

extension ReportCommand {
    /// Draws `report.html` again from a rollback summary: the page `ebb run` writes, from the
    /// JSON alone (a summary from before the timeline section gives faults and checks only).
    struct HTMLReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "html",
            abstract: "Render the HTML report (timelines, rollback table) from a rollback summary JSON.",
            discussion:
                "Writes a self-contained page (inline CSS and SVG, no scripts) beside the summary unless --output says otherwise: report.html for rollback-summary.json, report-<run id>.html for rollback-summary-<run id>.json. Exit 0 when written, 3 when the summary cannot be read."
        )

        @Option(help: ArgumentHelp("The rollback summary to draw.", valueName: "rollback-summary.json"))
        var from: String

        @Option(help: ArgumentHelp("Where to write the page.", valueName: "path"))
        var output: String?

        func run() throws {
            let source = URL(fileURLWithPath: from).standardizedFileURL
            let summary: RollbackSummary
            do {
                summary = try HTMLReport.summary(from: source)
            } catch {
                Wiring.printError("error: cannot read \(from) as an Ebb rollback summary: \(error)")
                throw ExitCode(.invalidInput)
            }
            let base = source.deletingPathExtension().lastPathComponent
            let name =
                base.hasPrefix("rollback-summary-")
                ? "report-" + base.dropFirst("rollback-summary-".count) + ".html" : "report.html"
            let target =
                output.map { URL(fileURLWithPath: $0).standardizedFileURL }
                ?? source.deletingLastPathComponent().appending(path: name)
            do {
                print(try HTMLReport.write(summary, to: target))
            } catch {
                Wiring.printError("error: cannot write \(target.path): \(error)")
                throw ExitCode(1)
            }
        }
    }
}
