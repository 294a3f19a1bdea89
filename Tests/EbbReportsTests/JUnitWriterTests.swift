import EbbCore
import EbbReports
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Paths and builders shared by the JUnit tests.
enum JUnitFixture {
    /// The real schemas CI enforces: `$EBB_JUNIT_SCHEMAS`, else the copies vendored in
    /// `Tests/Fixtures/junit-schemas` (found from this file, so it works wherever the repo is cloned).
    static let schemas: URL = {
        if let path = ProcessInfo.processInfo.environment["EBB_JUNIT_SCHEMAS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/junit-schemas").standardizedFileURL
    }()

    static func schema(_ flavor: JUnitFlavor) -> String {
        schemas.appendingPathComponent(flavor == .portable ? "junit-10.xsd" : "JUnit.xsd").path
    }

    static let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    static func step(
        _ kind: StepResult.Kind, _ name: String, _ status: StepResult.Status, _ message: String? = nil,
        ms: Int64 = 0, properties: [String: String] = [:]
    ) -> StepResult {
        StepResult(
            kind: kind, name: name, status: status, message: message, startedAt: start,
            duration: .milliseconds(ms), properties: properties)
    }

    /// Every status and kind, a second scenario and a fixture rollback.
    static func sampleRun() -> RunResult {
        var diskFull = ScenarioResult(suite: "demo", name: "disk-full", startedAt: start)
        diskFull.duration = .milliseconds(4_321)
        diskFull.steps = [
            step(.preflight, "preflight", .passed, "disk -> /srv/data", ms: 12),
            step(
                .inject, "inject: disk.fill", .passed, "/srv/data", ms: 250,
                properties: ["target": "/srv/data", "plugin": "disk.fill"]),
            step(.check, "check: p99 latency", .failed, "p99 812ms > limit 500ms\nsamples: 120, window 30s", ms: 1_500),
            step(
                .telemetry, "telemetry: prometheus", .error, "GET http://prom:9090/api/v1/query: connection refused",
                ms: 3),
            step(.recovery, "recovery", .skipped, "not reached: the check failed"),
            step(.rollback, "rollback: disk.fill", .passed, nil, ms: 40, properties: ["state": "reverted"]),
            step(.rollback, "rollback: file.corrupt", .failed, "restore /srv/data/db: Operation not permitted", ms: 7),
        ]
        var kill = ScenarioResult(suite: "demo", name: "kill", startedAt: start.addingTimeInterval(5))
        kill.duration = .milliseconds(1_000)
        kill.steps = [
            step(.preflight, "preflight", .passed, ms: 1), step(.inject, "inject: process.kill", .passed, ms: 2),
            step(.rollback, "rollback: process.kill", .passed, ms: 3),
        ]
        var result = RunResult(
            runID: "20270115-080000-ab12", journalDirectory: URL(fileURLWithPath: "/var/lib/ebb/rollback/1-ab12"),
            startedAt: start)
        result.duration = .milliseconds(5_500)
        result.scenarios = [diskFull, kill]
        result.setupSteps = [step(.rollback, "demo-target", .passed, "stopped pid 4242", ms: 15)]
        return result
    }

    /// Writes `result` in `flavor` to a fresh temp directory and returns the file.
    static func write(
        _ result: RunResult, _ flavor: JUnitFlavor, maxOutputBytes: Int = 64 * 1024,
        hostname: String = "ci-runner-7", logs: Bool = true
    ) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-junit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("junit-\(flavor.rawValue).xml")
        let options = JUnitOptions(
            flavor: flavor, maxOutputBytes: maxOutputBytes, hostname: hostname,
            logPathForScenario: { logs ? "reports/logs/\($0.name).log" : nil })
        try JUnitWriter.write(result, to: file.path, options: options)
        return file
    }

    static func remove(_ file: URL) { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }

    /// Parses with Foundation's XML parser: a second, independent reader of the file.
    static func parse(_ file: URL) throws -> XMLDocument {
        try XMLDocument(contentsOf: file, options: [])
    }

    static func expectValid(
        _ file: URL, _ flavor: JUnitFlavor, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let problems = try SchemaValidator.validate(file: file.path, schema: schema(flavor))
        #expect(problems.isEmpty, "\(flavor): \(problems)", sourceLocation: sourceLocation)
    }
}

extension XMLNode {
    func elements(_ xpath: String) throws -> [XMLElement] {
        try nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
    }
}

extension XMLElement {
    subscript(_ name: String) -> String? { attribute(forName: name)?.stringValue }
    func children(_ name: String) -> [XMLElement] { elements(forName: name) }
}

@Suite struct JUnitWriterTests {
    @Test(arguments: JUnitFlavor.allCases)
    func stepsMapToCasesWithRollbackClassnamesAndTheFileValidates(_ flavor: JUnitFlavor) throws {
        let file = try JUnitFixture.write(JUnitFixture.sampleRun(), flavor)
        defer { JUnitFixture.remove(file) }
        try JUnitFixture.expectValid(file, flavor)
        let document = try JUnitFixture.parse(file)

        let suites = try document.elements("/testsuites/testsuite")
        #expect(suites.map { $0["name"] } == ["disk-full", "kill", "setup"])
        let diskFull = try #require(suites.first)
        #expect(diskFull["time"] == "4.321")
        #expect(diskFull["timestamp"] == "2027-01-15T08:00:00")
        #expect(diskFull["hostname"] == "ci-runner-7")
        let cases = diskFull.children("testcase")
        #expect(
            cases.map { $0["name"] } == [
                "preflight", "inject: disk.fill", "check: p99 latency", "telemetry: prometheus",
                "recovery", "rollback: disk.fill", "rollback: file.corrupt",
            ])
        #expect(
            cases.map { $0["classname"] } == Array(repeating: "ebb.demo.disk-full", count: 5)
                + Array(repeating: "ebb.demo.disk-full.rollback", count: 2))
        #expect(cases.map { $0["time"] } == ["0.012", "0.250", "1.500", "0.003", "0.000", "0.040", "0.007"])

        let failure = try #require(cases[2].children("failure").first)
        #expect(failure["message"] == "p99 812ms > limit 500ms")
        #expect(failure["type"] == "ebb.check.failed")
        #expect(failure.stringValue == "p99 812ms > limit 500ms\nsamples: 120, window 30s")
        let error = try #require(cases[3].children("error").first)
        #expect(error["type"] == "ebb.telemetry.error")
        #expect(error.stringValue == "GET http://prom:9090/api/v1/query: connection refused")
        #expect(cases[4].children("skipped").first?["message"] == "not reached: the check failed")
        let rollbackFailure = try #require(cases[6].children("failure").first)
        #expect(rollbackFailure["type"] == "ebb.rollback.failed")
        #expect(
            cases[0].children("failure").isEmpty && cases[0].children("error").isEmpty
                && cases[0].children("skipped").isEmpty)

        let properties = Dictionary(
            try diskFull.elements("properties/property").map { ($0["name"] ?? "", $0["value"] ?? "") },
            uniquingKeysWith: { first, _ in first })
        #expect(properties["run-id"] == "20270115-080000-ab12")
        #expect(properties["host"] == "ci-runner-7")
        #expect(properties["journal"] == "/var/lib/ebb/rollback/1-ab12")
        #expect(properties["inject: disk.fill.target"] == "/srv/data")
        #expect(properties["inject: disk.fill.plugin"] == "disk.fill")
        #expect(properties["rollback: disk.fill.state"] == "reverted")
        #expect(properties["interrupted"] == nil)

        let setup = suites[2]
        #expect(setup.children("testcase").first?["classname"] == "ebb.setup.rollback")
        #expect(setup.children("testcase").first?["name"] == "demo-target")

        let root = try #require(document.rootElement())
        switch flavor {
        case .portable:
            #expect(root["name"] == "ebb")
            #expect(root["time"] == "5.500")
            #expect(diskFull["id"] == nil)
            // Attachments: on the suite and on each case (GitLab reads failed cases' output).
            #expect(diskFull.children("system-out").first?.stringValue == "[[ATTACHMENT|reports/logs/disk-full.log]]")
            #expect(cases[2].children("system-out").first?.stringValue == "[[ATTACHMENT|reports/logs/disk-full.log]]")
            #expect(
                cases[0].children("system-out").first?.stringValue
                    == "disk -> /srv/data\n[[ATTACHMENT|reports/logs/disk-full.log]]")
        case .ant:
            #expect(root.attributes?.isEmpty ?? true)
            #expect(suites.map { $0["id"] } == ["0", "1", "2"])
            #expect(suites.map { $0["package"] } == ["ebb.demo", "ebb.demo", "ebb.setup"])
            #expect(try document.elements("//testcase/system-out").isEmpty)
            let output = try #require(diskFull.children("system-out").first?.stringValue)
            #expect(output.hasPrefix("[[ATTACHMENT|reports/logs/disk-full.log]]\n"))
            #expect(output.contains("inject: disk.fill: /srv/data"))
            #expect(diskFull.children("system-err").count == 1)
        }
    }

    @Test(arguments: JUnitFlavor.allCases)
    func countsEqualTheChildren(_ flavor: JUnitFlavor) throws {
        var run = JUnitFixture.sampleRun()
        run.scenarios[1].interrupted = true
        run.signal = 2
        let file = try JUnitFixture.write(run, flavor)
        defer { JUnitFixture.remove(file) }
        try JUnitFixture.expectValid(file, flavor)
        let document = try JUnitFixture.parse(file)
        var totals = (tests: 0, failures: 0, errors: 0)
        for suite in try document.elements("/testsuites/testsuite") {
            let cases = suite.children("testcase")
            let failures = cases.filter { !$0.children("failure").isEmpty }.count
            let errors = cases.filter { !$0.children("error").isEmpty }.count
            let skipped = cases.filter { !$0.children("skipped").isEmpty }.count
            #expect(suite["tests"] == String(cases.count), "\(suite["name"] ?? "")")
            #expect(suite["failures"] == String(failures))
            #expect(suite["errors"] == String(errors))
            #expect(suite["skipped"] == String(skipped))
            totals.tests += cases.count
            totals.failures += failures
            totals.errors += errors
        }
        #expect(totals.tests == 12 && totals.failures == 2 && totals.errors == 1)
        if flavor == .portable {
            let root = try #require(document.rootElement())
            #expect(root["tests"] == String(totals.tests))
            #expect(root["failures"] == String(totals.failures))
            #expect(root["errors"] == String(totals.errors))
        }
    }

    @Test(arguments: JUnitFlavor.allCases)
    func hostileTextIsCleanedEverywhereAndTheFileStaysValid(_ flavor: JUnitFlavor) throws {
        let garbage =
            "\u{1B}[1;31mred\u{1B}[0m plain\u{0}nul \u{1}\u{2}\u{8}\u{B}\u{C}\u{1F}\u{7F}\u{9B}c0 end ]]> after"
            + " \u{1B}]0;window title\u{7}osc \u{1B}(Bsgr0\u{1B}[m emoji 🔥💥👩‍💻 Grüße 日本語 Ωμέγα\ttab lone\u{1B}"
        let expected = "red plainnul c0 end ]]> after osc sgr0 emoji 🔥💥👩‍💻 Grüße 日本語 Ωμέγα\ttab lone"
        let expectedLine = expected.replacingOccurrences(of: "\t", with: " ")  // message attributes are one plain line
        var scenario = ScenarioResult(
            suite: "demo\u{1B}[0m", name: "\u{1B}[1mboom\u{1B}[0m ]]> 🔥", startedAt: JUnitFixture.start)
        scenario.steps = [
            JUnitFixture.step(
                .check, "check: \u{1B}[32mok\u{1B}[0m", .failed, garbage, properties: ["note\u{0}": garbage]),
            JUnitFixture.step(.telemetry, "telemetry: x", .error, garbage),
            JUnitFixture.step(.recovery, "recovery", .skipped, garbage + "\nsecond line"),
            JUnitFixture.step(.inject, "inject: x", .passed, garbage),
        ]
        var run = RunResult(runID: "run\u{7}", journalDirectory: nil, startedAt: JUnitFixture.start)
        run.scenarios = [scenario]
        let file = try JUnitFixture.write(run, flavor, hostname: "host\u{1B}[0m\u{0}")
        defer { JUnitFixture.remove(file) }

        let bytes = try Data(contentsOf: file)
        let allowedControls: Set<UInt8> = [0x09, 0x0A, 0x0D]
        let controls = bytes.filter { (byte: UInt8) -> Bool in byte < 0x20 && !allowedControls.contains(byte) }
        #expect(controls.isEmpty)
        let raw = String(decoding: bytes, as: UTF8.self)
        for reference in ["&#27;", "&#x1B;", "&#x1b;", "&#0;", "&#1;", "&#x7F;", "&#127;", "\u{FFFD}"] {
            #expect(!raw.contains(reference), "\(reference)")
        }
        try JUnitFixture.expectValid(file, flavor)

        let document = try JUnitFixture.parse(file)
        let suite = try #require(try document.elements("/testsuites/testsuite").first)
        #expect(suite["name"] == "boom ]]> 🔥")
        #expect(suite["hostname"] == "host")
        let cases = suite.children("testcase")
        #expect(cases.first?["name"] == "check: ok")
        #expect(cases.first?["classname"] == "ebb.demo.boom ]]> 🔥")
        let failure = try #require(cases.first?.children("failure").first)
        #expect(failure.stringValue == expected)
        #expect(failure["message"] == expectedLine)
        #expect(cases[1].children("error").first?.stringValue == expected)
        let skipped = try #require(cases[2].children("skipped").first)
        #expect(skipped["message"] == expectedLine)
        #expect(skipped.stringValue == expected + "\nsecond line")
        let properties = try suite.elements("properties/property")
        #expect(properties.contains { $0["name"] == "check: ok.note" && $0["value"] == expected })
        #expect(properties.contains { $0["name"] == "run-id" && $0["value"] == "run" })
        let output = flavor == .portable ? cases[3].children("system-out").first : suite.children("system-out").first
        #expect(output?.stringValue?.contains(expected) == true)
    }

    @Test(arguments: JUnitFlavor.allCases)
    func fiftyMegabytesOfOutputAreTruncatedKeepingHeadAndTail(_ flavor: JUnitFlavor) throws {
        let filler = String(repeating: "0123456789abcdef", count: 50 * 1024 * 1024 / 16)
        let message = "HEAD-START first line\n" + filler + "\nTAIL-END"
        var scenario = ScenarioResult(suite: "demo", name: "big", startedAt: JUnitFixture.start)
        scenario.steps = [
            JUnitFixture.step(.check, "check: huge", .failed, message),
            JUnitFixture.step(.inject, "inject: chatty", .passed, message),
        ]
        var run = RunResult(runID: "r", journalDirectory: nil, startedAt: JUnitFixture.start)
        run.scenarios = [scenario]
        let file = try JUnitFixture.write(run, flavor)
        defer { JUnitFixture.remove(file) }

        let size = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
        #expect(size < 200 * 1024)
        try JUnitFixture.expectValid(file, flavor)
        let document = try JUnitFixture.parse(file)
        let failure = try #require(try document.elements("//testcase/failure").first)
        #expect(failure["message"] == "HEAD-START first line")
        let body = try #require(failure.stringValue)
        #expect(body.hasPrefix("HEAD-START first line\n0123456789abcdef"))
        #expect(body.hasSuffix("0123456789abcdef\nTAIL-END"))
        #expect(body.contains("bytes omitted, full log: reports/logs/big.log] ..."))
        #expect(body.utf8.count <= 64 * 1024)
        #expect(body.utf8.count > 60 * 1024)
        // The passed step's output is truncated the same way, wherever the flavor keeps it.
        let output = try #require(
            try document.elements(flavor == .portable ? "//testcase/system-out" : "//testsuite/system-out")
                .compactMap(\.stringValue).first { $0.contains("TAIL-END") })
        #expect(output.contains("HEAD-START") && output.contains("[[ATTACHMENT|reports/logs/big.log]]"))
        #expect(output.utf8.count <= 64 * 1024 + 100)
    }

    @Test(arguments: JUnitFlavor.allCases)
    func anInterruptedRunMarksWhatDidNotFinish(_ flavor: JUnitFlavor) throws {
        // Held when SIGTERM came, then rolled back: every step passed, yet it did not finish.
        var holding = ScenarioResult(suite: "demo", name: "holding", startedAt: JUnitFixture.start)
        holding.interrupted = true
        holding.steps = [
            JUnitFixture.step(.preflight, "preflight", .passed), JUnitFixture.step(.inject, "inject: f", .passed),
            JUnitFixture.step(.rollback, "rollback: f", .passed),
        ]
        // Never started: the runner already records a skipped preflight.
        var waiting = ScenarioResult(suite: "demo", name: "waiting", startedAt: JUnitFixture.start)
        waiting.interrupted = true
        waiting.steps = [JUnitFixture.step(.preflight, "preflight", .skipped, "not run: the run was interrupted")]
        var run = RunResult(runID: "r", journalDirectory: nil, startedAt: JUnitFixture.start)
        run.scenarios = [holding, waiting]
        run.signal = 15
        let file = try JUnitFixture.write(run, flavor)
        defer { JUnitFixture.remove(file) }
        try JUnitFixture.expectValid(file, flavor)

        let suites = try JUnitFixture.parse(file).elements("/testsuites/testsuite")
        for suite in suites {
            let properties = try suite.elements("properties/property")
            #expect(properties.contains { $0["name"] == "interrupted" && $0["value"] == "true" })
            #expect(properties.contains { $0["name"] == "signal" && $0["value"] == "SIGTERM" })
        }
        let notFinished = try #require(suites[0].children("testcase").last)
        #expect(notFinished["name"] == "not finished")
        #expect(notFinished["classname"] == "ebb.demo.holding")
        #expect(notFinished.children("skipped").first?["message"] == "not finished: run interrupted by SIGTERM")
        #expect(suites[0]["tests"] == "4" && suites[0]["skipped"] == "1")
        #expect(suites[1].children("testcase").map { $0["name"] } == ["preflight"])
        #expect(suites[1]["skipped"] == "1")
    }

    @Test func repeatedCaseNamesAreNumberedAndNoSetupSuiteWithoutSetupSteps() throws {
        var scenario = ScenarioResult(suite: "demo", name: "twice", startedAt: JUnitFixture.start)
        scenario.steps = [
            JUnitFixture.step(.check, "check: latency", .passed), JUnitFixture.step(.check, "check: latency", .failed),
            JUnitFixture.step(.rollback, "check: latency", .passed),
        ]
        var run = RunResult(runID: nil, journalDirectory: nil, startedAt: JUnitFixture.start)
        run.scenarios = [scenario]
        let file = try JUnitFixture.write(run, .portable, logs: false)
        defer { JUnitFixture.remove(file) }
        try JUnitFixture.expectValid(file, .portable)
        let document = try JUnitFixture.parse(file)
        #expect(
            try document.elements("//testcase").map { $0["name"] } == [
                "check: latency", "check: latency (2)", "check: latency",
            ])
        #expect(try document.elements("/testsuites/testsuite").count == 1)
        #expect(try document.elements("//system-out").isEmpty)
    }

    @Test func anEmptyRunIsValidInBothFlavors() throws {
        for flavor in JUnitFlavor.allCases {
            let file = try JUnitFixture.write(
                RunResult(runID: nil, journalDirectory: nil, startedAt: JUnitFixture.start), flavor,
                hostname: "  ")
            defer { JUnitFixture.remove(file) }
            try JUnitFixture.expectValid(file, flavor)
        }
        var run = RunResult(runID: nil, journalDirectory: nil, startedAt: JUnitFixture.start)
        run.scenarios = [ScenarioResult(suite: "", name: "", startedAt: Date(timeIntervalSince1970: -1e15))]
        for flavor in JUnitFlavor.allCases {
            let file = try JUnitFixture.write(run, flavor, hostname: "")
            defer { JUnitFixture.remove(file) }
            try JUnitFixture.expectValid(file, flavor)
            let suite = try #require(try JUnitFixture.parse(file).elements("//testsuite").first)
            #expect(suite["hostname"] == "localhost")
            #expect(suite["timestamp"] == "0001-01-01T00:00:00")
        }
    }

    @Test func theReportReplacesAnOldOneAtomicallyAndLeavesNoTemporaryFiles() throws {
        // `%41` would be URI-unescaped to `A` by xmlNewTextWriterFilename.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-junit-%41-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("junit.xml")
        try Data("old".utf8).write(to: file)
        try JUnitWriter.write(JUnitFixture.sampleRun(), to: file.path, options: JUnitOptions(hostname: "h"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["junit.xml"])
        try JUnitFixture.expectValid(file, .portable)

        let missing = directory.appendingPathComponent("no/such/dir/junit.xml").path
        #expect(throws: JUnitError.self) {
            try JUnitWriter.write(JUnitFixture.sampleRun(), to: missing, options: JUnitOptions())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["junit.xml"])
    }
}

@Suite struct JUnitSchemaValidatorTests {
    func document(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-junit-doc-\(UUID().uuidString.prefix(8)).xml")
        try Data(text.utf8).write(to: file)
        return file
    }

    @Test func anInvalidDocumentIsReportedWithItsLine() throws {
        let file = try document(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites>
              <testsuite name="s" tests="1" failures="0" errors="0">
                <testcase classname="c"/>
              </testsuite>
            </testsuites>
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let problems = try SchemaValidator.validate(file: file.path, schema: JUnitFixture.schema(.portable))
        #expect(problems.count == 1)
        #expect(problems.first?.line == 4)
        #expect(problems.first?.message.contains("'name'") == true)
        #expect(problems.first?.description.hasPrefix("line 4: ") == true)
        // Ant also wants hostname, timestamp, time, id, package, properties, system-out and system-err.
        let ant = try SchemaValidator.validate(file: file.path, schema: JUnitFixture.schema(.ant))
        #expect(ant.count >= 2)
        #expect(ant.allSatisfy { $0.line > 0 })
    }

    @Test func aDocumentThatIsNotXMLThrowsWithTheParseErrorsLines() throws {
        let file = try document("<?xml version=\"1.0\"?>\n<testsuites>\n<testsuite name=\"a\u{1B}\">\n</testsuites>\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let error = try #require(throws: JUnitError.self) {
            try SchemaValidator.validate(file: file.path, schema: JUnitFixture.schema(.portable))
        }
        #expect(error.message.contains("cannot be parsed"))
        #expect(error.problems.first?.line == 3, "\(error)")
        #expect(error.description.contains("line 3: "))
    }

    @Test func anUnreadableOrBrokenSchemaThrows() throws {
        let file = try document("<testsuites/>")
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: JUnitError.self) {
            try SchemaValidator.validate(file: file.path, schema: "/nonexistent/junit.xsd")
        }
        #expect(throws: JUnitError.self) {
            try SchemaValidator.validate(file: "/nonexistent/junit.xml", schema: JUnitFixture.schema(.ant))
        }
        let notASchema = try document("<?xml version=\"1.0\"?>\n<notaschema/>\n")
        defer { try? FileManager.default.removeItem(at: notASchema) }
        let error = try #require(throws: JUnitError.self) {
            try SchemaValidator.validate(file: file.path, schema: notASchema.path)
        }
        #expect(!error.problems.isEmpty)
        // The same document in the wrong flavor is invalid, not an error.
        let portable = try JUnitFixture.write(JUnitFixture.sampleRun(), .portable)
        defer { JUnitFixture.remove(portable) }
        #expect(try !SchemaValidator.validate(file: portable.path, schema: JUnitFixture.schema(.ant)).isEmpty)
    }

    @Test(
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint"), "xmllint is not installed"),
        arguments: JUnitFlavor.allCases)
    func xmllintAgrees(_ flavor: JUnitFlavor) throws {
        var run = JUnitFixture.sampleRun()
        run.scenarios[0].steps.append(
            JUnitFixture.step(.check, "check: \u{1B}[31mred", .failed, "]]> \u{1B}[0m 🔥 \u{0}"))
        run.scenarios[1].interrupted = true
        run.signal = 15
        let file = try JUnitFixture.write(run, flavor)
        defer { JUnitFixture.remove(file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/xmllint")
        process.arguments = ["--noout", "--schema", JUnitFixture.schema(flavor), file.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
    }
}
