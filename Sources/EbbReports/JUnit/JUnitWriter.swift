import CLibXML2
import EbbCore
import Foundation

/// Writes a run as a JUnit XML report (docs/reference.md, "JUnit mapping").
///
/// Layout: a `<testsuites>` root; one `<testsuite>` per scenario (name = scenario, package =
/// `ebb.<suite>`), plus one named `setup` for fixture steps when there are any; one
/// `<testcase>` per step with classname `ebb.<suite>.<scenario>`, or
/// `ebb.<suite>.<scenario>.rollback` for rollback steps, so a failed rollback is its own
/// group in every CI viewer. Failed steps are `<failure>`, errors `<error>`, steps not run
/// `<skipped>` (in both flavors: the Ant `JUnit.xsd` Ebb validates against has `skipped`).
/// An interrupted scenario gets the properties `interrupted=true` and `signal`, and, unless
/// one of its steps is already skipped, a skipped case `not finished`.
///
/// Counts (`tests` includes failures, errors and skipped) are computed from the cases
/// written. The root carries `name="ebb"` and totals in the portable flavor; Ant's schema
/// allows no attributes on the root, so there it is bare.
public enum JUnitWriter {
    /// Streams the report with libxml2's xmlTextWriter, writing to a temp file in the same directory, then renames into place (so a reader never sees half a file).
    ///
    /// The writer is `xmlNewTextWriter` on a file descriptor Ebb opens itself, not
    /// `xmlNewTextWriterFilename`: libxml2 URI-unescapes that file name, so a directory
    /// called `a%41b` would send the report to `aAb`. Opening the temp file ourselves also
    /// makes it exclusive (`O_EXCL`, never following a planted symlink) and lets it be
    /// fsynced before the rename, so a crash cannot publish an empty report.
    ///
    /// - Throws: `JUnitError` when the directory is missing or unwritable or a write fails;
    ///   the temp file is removed and an existing report at `path` is left untouched.
    public static func write(_ result: RunResult, to path: String, options: JUnitOptions, redactor: SecretRedactor = .shared) throws {
        let report = JUnitReport(result.redacted(by: redactor), options: options)
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/")
            + ".\(name).\(getpid()).\(String(UInt32.random(in: .min ... .max), radix: 16)).tmp"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JUnitError("cannot create \(temporary): \(LibXML.errnoText())") }
        var published = false
        defer { if !published { unlink(temporary) } }
        do {
            // `endDocument` flushes libxml2's buffer into the fd, so the fsync covers everything.
            try stream(report, flavor: options.flavor, to: XMLStreamWriter(fd: fd, path: temporary))
            // Read back what was written: a secret too short to redact makes the file private.
            if let written = try? String(contentsOfFile: temporary, encoding: .utf8),
               ReportMode.mode(for: written, redactor: redactor) == 0o600 {
                _ = fchmod(fd, 0o600)
            }
            guard fsync(fd) == 0 else { throw JUnitError("cannot fsync \(temporary): \(LibXML.errnoText())") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw JUnitError("cannot close \(temporary): \(LibXML.errnoText())") }
        guard rename(temporary, path) == 0 else { throw JUnitError("cannot rename \(temporary) to \(path): \(LibXML.errnoText())") }
        published = true
        // Best effort: the report is in place either way; this only makes the rename durable.
        try? DurableFile.syncDirectory(directory.isEmpty ? "." : directory)
    }

    private static func stream(_ report: JUnitReport, flavor: JUnitFlavor, to xml: XMLStreamWriter) throws {
        try xml.startDocument()
        try xml.startElement("testsuites")
        if flavor == .portable {
            // junit-10 allows these on the root (not `skipped`); Ant's schema allows none.
            try xml.attribute("name", "ebb")
            try xml.attribute("tests", String(report.tests))
            try xml.attribute("failures", String(report.failures))
            try xml.attribute("errors", String(report.errors))
            try xml.attribute("time", JUnitReport.seconds(report.time))
        }
        for (index, suite) in report.suites.enumerated() {
            try write(suite, id: index, flavor: flavor, to: xml)
        }
        try xml.endElement()
        try xml.endDocument()
    }

    private static func write(_ suite: JUnitReport.Suite, id: Int, flavor: JUnitFlavor, to xml: XMLStreamWriter) throws {
        try xml.startElement("testsuite")
        try xml.attribute("name", suite.name)
        try xml.attribute("tests", String(suite.tests))
        try xml.attribute("failures", String(suite.failures))
        try xml.attribute("errors", String(suite.errors))
        try xml.attribute("skipped", String(suite.skipped))
        try xml.attribute("time", JUnitReport.seconds(suite.time))
        try xml.attribute("timestamp", suite.timestamp)
        try xml.attribute("hostname", suite.hostname)
        if flavor == .ant {
            // Required on suites aggregated under <testsuites>: id counts from 0.
            try xml.attribute("id", String(id))
            try xml.attribute("package", suite.package)
        }

        // Ant's order is fixed (properties, testcase*, system-out, system-err), and
        // properties/system-out/system-err are required; junit-10 takes any order.
        if flavor == .ant || !suite.properties.isEmpty {
            try xml.startElement("properties")
            for property in suite.properties {
                try xml.startElement("property")
                try xml.attribute("name", property.name)
                try xml.attribute("value", property.value)
                try xml.endElement()
            }
            try xml.endElement()
        }
        for testcase in suite.cases {
            try write(testcase, to: xml)
        }
        if flavor == .ant || !suite.output.isEmpty {
            try xml.startElement("system-out")
            try xml.cdata(TextHygiene.cdataSafe(suite.output))
            try xml.endElement()
        }
        if flavor == .ant {
            try xml.startElement("system-err")
            try xml.endElement()
        }
        try xml.endElement()
    }

    private static func write(_ testcase: JUnitReport.Case, to xml: XMLStreamWriter) throws {
        try xml.startElement("testcase")
        try xml.attribute("name", testcase.name)
        try xml.attribute("classname", testcase.classname)
        try xml.attribute("time", JUnitReport.seconds(testcase.time))
        switch testcase.outcome {
        case .passed:
            break
        case .failure(let type, let message, let body), .error(let type, let message, let body):
            let element = if case .failure = testcase.outcome { "failure" } else { "error" }
            try xml.startElement(element)
            try xml.attribute("message", message)
            try xml.attribute("type", type)   // required by Ant's schema
            try xml.cdata(TextHygiene.cdataSafe(body))
            try xml.endElement()
        case .skipped(let message, let body):
            // Only `message` is common to both schemas' <skipped>.
            try xml.startElement("skipped")
            try xml.attribute("message", message)
            try xml.cdata(TextHygiene.cdataSafe(body))
            try xml.endElement()
        }
        if !testcase.output.isEmpty {
            try xml.startElement("system-out")
            try xml.cdata(TextHygiene.cdataSafe(testcase.output))
            try xml.endElement()
        }
        try xml.endElement()
    }
}
