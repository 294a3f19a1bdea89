import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

@Suite struct SuiteLoaderTests {
    let loader = SuiteLoader(catalog: .standard)

    func errors(_ yaml: String) -> [SuiteError] { loader.errors(loading: yaml) }

    @Test func aReadyConditionIsExactlyOneOfHTTPTCPOrCommand() throws {
        let suite = try loader.load(
            text: """
                setup:
                  - name: sandbox
                    command: [sleep, "60"]
                    ready: { command: [ip, netns, exec, box, curl, -sf, "http://10.0.0.1/"] }
                scenarios:
                  - name: s
                    duration: 1s
                    faults:
                      - process.pause: { fixture: sandbox }
                """, path: "/tmp/ready.yaml")
        #expect(
            suite.fixtures.first?.readiness?.condition
                == .command(["ip", "netns", "exec", "box", "curl", "-sf", "http://10.0.0.1/"]))
        let problems = errors(
            """
            setup:
              - name: sandbox
                command: [sleep, "60"]
                ready: { command: [true], tcp: "127.0.0.1:1" }
            scenarios:
              - name: s
                duration: 1s
                faults:
                  - process.pause: { fixture: sandbox }
            """)
        #expect(problems.filter { $0.key.hasPrefix("setup[0].ready") }.count == 1, "\(problems)")
        #expect(problems.first?.line == 4 && problems.first?.key == "setup[0].ready")
        #expect(
            problems.first?.message.contains("give exactly one of 'http' (a URL), 'tcp' (host:port) or 'command'")
                == true)
    }

    @Test func typoInAKeyNamesFileLineColumnKeyAndSuggestion() throws {
        let problems = errors(
            """
            suite: s
            scenarios:
              - name: one
                durration: 1s
                faults:
                  - command: { inject: [true], rollback: [true] }
            """)
        let problem = try #require(problems.first)
        #expect(problem.file == "suite.yaml")
        #expect(problem.line == 4)
        #expect(problem.column == 5)
        #expect(problem.key == "scenarios[0].durration")
        #expect(problem.message.contains("did you mean 'duration'?"))
        #expect(problem.description.hasPrefix("suite.yaml:4:5: error: scenarios[0].durration:"))
    }

    @Test func unknownPluginIsNamedWithASuggestion() throws {
        let problem = try #require(
            errors(
                """
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - process.paus: { pid: 42 }
                """
            ).first)
        #expect(problem.line == 5 && problem.column == 9)
        #expect(problem.message.contains("unknown plugin 'process.paus'"))
        #expect(problem.message.contains("did you mean 'process.pause'?"))
    }

    @Test func wrongTypesAndBadValuesPointAtTheValue() {
        let problems = errors(
            """
            scenarios:
              - name: one
                duration: soon
                faults:
                  - process.pause: { pid: abc }
              - name: two
                duration: 1s
                faults:
                  - process.kill: { pid: 42, signal: NOPE }
            """)
        #expect(
            problems.map(\.key).sorted()
                == [
                    "scenarios[0].duration", "scenarios[0].faults[0].process.pause.pid",
                    "scenarios[1].faults[0].process.kill.signal",
                ].sorted())
        let duration = problems.first { $0.key == "scenarios[0].duration" }
        #expect(duration?.line == 3 && duration?.column == 15)
        #expect(duration?.message.contains("'soon' is not a duration") == true)
        #expect(problems.contains { $0.message.contains("unknown signal 'NOPE'") })
    }

    @Test func unknownParameterOfAPluginIsRefused() throws {
        let problem = try #require(
            errors(
                """
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - process.pause: { pid: 42, coutn: 2 }
                """
            ).first)
        #expect(problem.key == "scenarios[0].faults[0].process.pause.coutn")
        #expect(problem.message.contains("did you mean 'count'?"))
    }

    @Test func filePathsOutsideTheAllowedRootsAreRefusedAtLoad() throws {
        let problem = try #require(
            errors(
                """
                allowed_roots: [sandbox]
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - file.remove: { path: ../etc/passwd }
                """
            ).first)
        #expect(problem.key == "scenarios[0].faults[0].file.remove.path")
        #expect(problem.message.contains("outside the allowed roots"))
    }

    @Test func yamlSyntaxErrorsCarryTheirPosition() throws {
        let problem = try #require(errors("scenarios:\n  - name: [unclosed\n").first)
        #expect(problem.key == "(syntax)")
        #expect(problem.line >= 2)
    }

    @Test func missingScenariosAndMissingRequiredParametersAreReported() {
        #expect(errors("suite: empty\n").first?.message.contains("missing required key 'scenarios'") == true)
        let problem = errors(
            """
            scenarios:
              - name: one
                duration: 1s
                faults:
                  - command: { inject: [true] }
            """
        ).first
        #expect(problem?.message.contains("missing required parameter 'rollback'") == true)
    }

    @Test func aValidSuiteLoadsWithDurationsFixturesAndNamedFaults() throws {
        let suite = try loader.load(
            text: """
                suite: shop
                setup:
                  - name: api
                    command: [sleep, "60"]
                    ready: { tcp: "127.0.0.1:8080", timeout: 5s }
                scenarios:
                  - name: pause
                    wait_before: 250ms
                    duration: 1m30s
                    faults:
                      - process.pause: { fixture: api }
                        name: freeze-api
                """, path: "/tmp/shop.yaml")
        #expect(suite.name == "shop")
        #expect(suite.fixtures.first?.readiness?.condition == .tcp(host: "127.0.0.1", port: 8080))
        let scenario = try #require(suite.scenarios.first)
        #expect(scenario.duration == .seconds(90))
        #expect(scenario.waitBefore == .milliseconds(250))
        #expect(scenario.faults.map(\.name) == ["freeze-api"])
        #expect(scenario.faults.first?.pluginID == "process.pause")
    }

    /// Scalars are read as text (the suite is composed without the core schema's resolver), so a
    /// word YAML would make a boolean, a number or null stays the text written; only an empty
    /// plain value, or one tagged !!null, is nothing.
    @Test func onlyAnEmptyValueIsNothingAndEveryOtherScalarIsItsText() throws {
        let suite = try loader.load(
            text: """
                suite: yes
                scenarios:
                  - name: null
                    duration: 1s
                    faults:
                      - name: 1.50
                        command: { inject: [touch, ''], rollback: [rm, ~, "", null, 1.50] }
                """, path: "/tmp/words.yaml")
        #expect(suite.name == "yes")
        let scenario = try #require(suite.scenarios.first)
        #expect(scenario.name == "null")
        #expect(scenario.faults.map(\.name) == ["1.50"])
        #expect(
            scenario.faults.first?.parameters
                == ["inject": ["touch", ""], "rollback": ["rm", "~", "", "null", "1.50"]])
        for value in ["", "!!null ''"] {
            let problems = errors(
                """
                suite: \(value)
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """)
            #expect(problems.map(\.key) == ["suite"], "\(value): \(problems)")
            #expect(problems.first?.message.contains("expected a string, found nothing (null)") == true, "\(problems)")
        }
    }

    /// A remote host's agent gets a fault's parameters as JSON and reads them back: an argument
    /// written `0644` or `on` must arrive as that text (YAML alone would make them 420 and
    /// true), while a boolean or integer parameter keeps its type.
    @Test func theParametersARemoteHostReadsBackAreTheTextWritten() throws {
        let suite = try loader.load(
            text: """
                scenarios:
                  - name: s
                    duration: 1s
                    faults:
                      - command: { inject: [chmod, 0000, f], rollback: [chmod, 0644, f, on, 1_000] }
                      - process.pause: { match: sleeper, all: yes }
                      - network.partition: { netns: box, port: 0080 }
                """, path: "/tmp/remote.yaml")
        let faults = try #require(suite.scenarios.first?.faults)
        #expect(
            faults[0].parameters == [
                "inject": ["chmod", "0000", "f"], "rollback": ["chmod", "0644", "f", "on", "1_000"],
            ])
        #expect(faults[1].parameters == ["match": "sleeper", "all": true])
        #expect(faults[2].parameters == ["netns": "box", "port": 80])
        let readBack = try FaultParameters(json: faults[0].parameters, specs: CommandFault.parameters, keyPath: "f")
        #expect(try readBack.argv("rollback") == ["chmod", "0644", "f", "on", "1_000"])
        let selector = try FaultParameters(
            json: faults[1].parameters, specs: ProcessPause.parameters, keyPath: "f")
        #expect(try selector.boolean("all") == true)
    }

    @Test func checksAreRefusedByALoaderThatCannotEvaluateThem() {
        let problem = errors(
            """
            checks:
              - name: api
                tcp: { address: "127.0.0.1:1" }
            scenarios:
              - name: one
                duration: 1s
                faults:
                  - command: { inject: [true], rollback: [true] }
            """
        ).first
        #expect(problem?.key == "checks")
        #expect(problem?.line == 2)
        #expect(problem?.message.contains("cannot evaluate checks") == true)
    }

    @Test func absurdSizesDurationsAndStopSignalsAreRefusedNotCrashedOn() {
        let problems = errors(
            """
            allowed_roots: [files]
            scenarios:
              - name: one
                duration: 99999999999h
                faults:
                  - file.truncate: { path: files/a, size: "18446744073709551615" }
                  - file.corrupt: { path: files/b, bytes: 1e30K }
                  - process.kill: { pid: 42, signal: STOP }
            """)
        #expect(
            problems.map(\.key) == [
                "scenarios[0].duration", "scenarios[0].faults[0].file.truncate.size",
                "scenarios[0].faults[1].file.corrupt.bytes", "scenarios[0].faults[2].process.kill.signal",
            ])
        #expect(problems.last?.message.contains("use process.pause") == true)
    }

    @Test func fixtureTargetsMustExist() throws {
        let problem = try #require(
            errors(
                """
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - process.pause: { fixture: nope }
                """
            ).first)
        #expect(problem.message.contains("no fixture named 'nope'"))
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("2s", .seconds(2)), ("1m", .seconds(60)),
        ("1m30s", .seconds(90)), ("1.5s", .milliseconds(1500)), ("1h", .seconds(3600)),
        (" 2s\t", .seconds(2)), ("\u{00A0}3s\u{2009}", .seconds(3)),
    ])
    func parsesSuiteDurations(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "5", "s", "fast", "1x", "-1s", " \t", "2s\n", "1 s"])
    func refusesWhatIsNotADuration(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func sizesUsePowersOf1024() {
        #expect(SizeText.parse("4096") == 4096)
        #expect(SizeText.parse("512K") == 512 * 1024)
        #expect(SizeText.parse("64M") == 64 << 20)
        #expect(SizeText.parse("1G") == 1 << 30)
        #expect(SizeText.parse("lots") == nil)
    }
}

@Suite struct ExitStatusTests {
    @Test func precedenceIsRollbackThenInputThenSignalThenChecksThenInconclusive() {
        #expect(ExitStatus.checksFailed.combined(with: .rollbackIncomplete) == .rollbackIncomplete)
        #expect(ExitStatus.terminated.combined(with: .checksFailed) == .terminated)
        #expect(ExitStatus.inconclusive.combined(with: .checksFailed) == .checksFailed)
        #expect(ExitStatus.passed.combined(with: .inconclusive) == .inconclusive)
        #expect(ExitStatus.invalidInput.combined(with: .interrupted) == .invalidInput)
        #expect(ExitStatus.interrupted(by: 2) == .interrupted)
        #expect(ExitStatus.interrupted(by: 15) == .terminated)
    }
}

@Suite struct SuiteLoaderReportsEverythingTests {
    @Test func everyProblemOfASuiteIsReportedInOneGoInFileOrder() throws {
        do {
            _ = try SuiteLoader(catalog: .standard).load(
                text: """
                    suit: x
                    scenarios:
                      - name: one
                        durration: 1s
                        faults:
                          - process.pause: { pid: abc }
                      - name: two
                        duration: 2x
                        faults:
                          - file.remove: { path: /etc/passwd }
                    """, path: "bad.yaml")
            Issue.record("the suite is invalid")
        } catch let error as SuiteErrors {
            #expect(
                error.errors.map(\.key) == [
                    "suit", "scenarios[0].durration", "scenarios[0].faults[0].process.pause.pid",
                    "scenarios[1].duration", "scenarios[1].faults[0].file.remove.path",
                ])
            #expect(
                !error.errors.contains { $0.message.contains("needs a duration") },
                "a misspelt key is not reported twice")
        }
    }
}
