import CLibXML2
import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
    /// Writes the report of a whole run at once (see ``JUnitStream``, which does the writing).
    ///
    /// - Throws: `JUnitError` when the directory is missing or unwritable or a write fails;
    ///   no temp file is left and an existing report at `path` is left untouched.
    public static func write(
        _ result: RunResult, to path: String, options: JUnitOptions, redactor: SecretRedactor = .shared
    ) throws {
        let stream = try JUnitStream(
            path: path, options: options, runID: result.runID, journalDirectory: result.journalDirectory,
            startedAt: result.startedAt, redactor: redactor)
        for scenario in result.scenarios {
            try stream.append(scenario, signal: result.signal)
        }
        try stream.finish(setupSteps: result.setupSteps, duration: result.duration, signal: result.signal)
    }
}

/// Writes a JUnit report as results arrive: each scenario's `<testsuite>` is built and streamed
/// when ``append(_:signal:)`` gets it, and only the root's totals wait for ``finish(setupSteps:duration:signal:)``.
/// Memory holds one scenario at a time, however many testcases the run has.
///
/// The suites stream (libxml2's xmlTextWriter) into a temp file beside `path`; `finish` writes
/// the root, whose attributes carry the totals, into a second temp file, copies the suites in,
/// fsyncs it and renames it into place, so a reader never sees half a report and a crash cannot
/// publish an empty one. Both temp files are opened by Ebb itself (`O_EXCL`, never following a
/// planted symlink), not by `xmlNewTextWriterFilename`, which URI-unescapes its file name (a
/// directory called `a%41b` would send the report to `aAb`). A stream that is not finished
/// removes its temp files and leaves an existing report at `path` untouched.
public final class JUnitStream {
    private let path: String
    private let options: JUnitOptions
    private let redactor: SecretRedactor
    private var builder: JUnitSuiteBuilder
    private let suitesFile: String
    private var suitesFD: Int32
    private var suites: XMLStreamWriter?
    private var written = 0
    private var totals = (tests: 0, failures: 0, errors: 0, time: Duration.zero)

    /// Starts the report for `path`; throws `JUnitError` when its directory cannot take the temp file.
    public init(
        path: String, options: JUnitOptions, runID: String?, journalDirectory: URL?, startedAt: Date,
        redactor: SecretRedactor = .shared
    ) throws {
        self.path = path
        self.options = options
        self.redactor = redactor
        builder = JUnitSuiteBuilder(
            run: JUnitReport.Run(
                runID: runID, journalDirectory: journalDirectory,
                startedAt: startedAt),
            options: options)
        suitesFile = Self.temporaryName(for: path, part: "suites")
        suitesFD = open(suitesFile, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard suitesFD >= 0 else { throw JUnitError("cannot create \(suitesFile): \(LibXML.errnoText())") }
        do {
            let suites = try XMLStreamWriter(fd: suitesFD, path: suitesFile)
            // The suites are written as a document with a root of their own: declared UTF-8, so
            // libxml2 writes text as it is and not as character references, and indented as the
            // children of the report's root they become. `finish` copies what lies inside that root.
            try suites.startDocument()
            try suites.startElement("testsuites")
            self.suites = suites
        } catch {
            close(suitesFD)
            unlink(suitesFile)
            throw error
        }
    }

    deinit {
        suites = nil
        if suitesFD >= 0 {
            close(suitesFD)
            unlink(suitesFile)
        }
    }

    /// Streams one finished scenario as its `<testsuite>`. `signal` is the one that interrupted
    /// the run, if one did by then.
    public func append(_ scenario: ScenarioResult, signal: Int32?) throws {
        builder.run.signal = signal
        try write(builder.suite(for: scenario.redacted(by: redactor)))
    }

    /// Adds the `setup` suite (fixture steps) when there are any, writes the root with the
    /// run's totals and puts the report in place. `duration` is the run's (the sum of the
    /// suites' when zero).
    public func finish(setupSteps: [StepResult], duration: Duration, signal: Int32?) throws {
        builder.run.signal = signal
        if !setupSteps.isEmpty { try write(builder.setupSuite(setupSteps.map { $0.redacted(by: redactor) })) }
        guard let suites else { throw JUnitError("\(path): the report was finished already") }
        try suites.endElement()
        try suites.flush()
        self.suites = nil
        let time = duration > .zero ? duration : totals.time

        let temporary = Self.temporaryName(for: path, part: "report")
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JUnitError("cannot create \(temporary): \(LibXML.errnoText())") }
        var published = false
        defer { if !published { unlink(temporary) } }
        do {
            try writeRoot(to: fd, temporary: temporary, time: time)
            // Read back what was written: a secret too short to redact makes the file private.
            if !redactor.isEmpty, let text = try? String(contentsOfFile: temporary, encoding: .utf8),
                ReportMode.mode(for: text, redactor: redactor) == 0o600
            {
                _ = fchmod(fd, 0o600)
            }
            guard fsync(fd) == 0 else { throw JUnitError("cannot fsync \(temporary): \(LibXML.errnoText())") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw JUnitError("cannot close \(temporary): \(LibXML.errnoText())") }
        guard rename(temporary, path) == 0 else {
            throw JUnitError("cannot rename \(temporary) to \(path): \(LibXML.errnoText())")
        }
        published = true
        // Best effort: the report is in place either way; this only makes the rename durable.
        let directory = (path as NSString).deletingLastPathComponent
        try? DurableFile.syncDirectory(directory.isEmpty ? "." : directory)
    }

    private func write(_ suite: JUnitReport.Suite) throws {
        guard let suites else { throw JUnitError("\(path): the report was finished already") }
        try JUnitWriter.write(suite, id: written, flavor: options.flavor, to: suites)
        written += 1
        totals.tests += suite.tests
        totals.failures += suite.failures
        totals.errors += suite.errors
        totals.time += suite.time
    }

    /// The XML declaration and the root with its totals, then the suites copied inside it.
    private func writeRoot(to fd: Int32, temporary: String, time: Duration) throws {
        let root = try XMLStreamWriter(fd: fd, path: temporary)
        try root.startDocument()
        try root.startElement("testsuites")
        if options.flavor == .portable {
            // junit-10 allows these on the root (not `skipped`); Ant's schema allows none.
            try root.attribute("name", "ebb")
            try root.attribute("tests", String(totals.tests))
            try root.attribute("failures", String(totals.failures))
            try root.attribute("errors", String(totals.errors))
            try root.attribute("time", JUnitReport.seconds(time))
        }
        try root.endElement()
        try root.endDocument()
        guard written > 0 else { return }
        // The root was written empty (`<testsuites .../>`): it is reopened (`>`), the suites'
        // own root is stripped, and the report's root closes after them.
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 3, try Self.read(fd, at: end - 3, count: 3) == Array("/>\n".utf8) else {
            throw JUnitError("writing \(temporary) failed: libxml2 did not end the root as expected")
        }
        guard ftruncate(fd, end - 3) == 0, lseek(fd, end - 3, SEEK_SET) >= 0 else {
            throw JUnitError("cannot write \(temporary): \(LibXML.errnoText())")
        }
        try Self.append(Array(">".utf8), to: fd, path: temporary)
        let opening = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>".utf8),
            closing = Array("</testsuites>\n".utf8)
        let size = lseek(suitesFD, 0, SEEK_END)
        guard size >= opening.count + closing.count, try Self.read(suitesFD, at: 0, count: opening.count) == opening,
            try Self.read(suitesFD, at: size - off_t(closing.count), count: closing.count) == closing
        else {
            throw JUnitError("writing \(suitesFile) failed: libxml2 did not write the suites as expected")
        }
        var offset = off_t(opening.count)
        while offset < size - off_t(closing.count) {
            let chunk = try Self.read(
                suitesFD, at: offset, count: min(1 << 16, Int(size - off_t(closing.count) - offset)))
            try Self.append(chunk, to: fd, path: temporary)
            offset += off_t(chunk.count)
        }
        try Self.append(closing, to: fd, path: temporary)
    }

    private static func read(_ fd: Int32, at offset: off_t, count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = buffer.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, offset + off_t(done))
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw JUnitError("cannot read back the report: \(LibXML.errnoText())") }
            done += got
        }
        return buffer
    }

    private static func append(_ bytes: [UInt8], to fd: Int32, path: String) throws {
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { throw JUnitError("cannot write \(path): \(LibXML.errnoText())") }
            done += wrote
        }
    }

    private static func temporaryName(for path: String, part: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return (directory.isEmpty ? "" : directory + "/")
            + ".\(name).\(getpid()).\(String(UInt32.random(in: .min ... .max), radix: 16)).\(part).tmp"
    }
}

extension JUnitWriter {
    static func write(_ suite: JUnitReport.Suite, id: Int, flavor: JUnitFlavor, to xml: XMLStreamWriter) throws {
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
            try xml.attribute("type", type)  // required by Ant's schema
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
