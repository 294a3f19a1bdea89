import EbbCore
import EbbFaults
import Foundation
import Testing

/// Hostile input in a suite: environment values that look like YAML, absurd nesting, and
/// file content that must not be echoed in full by an error.
@Suite struct SuiteInputSafetyTests {
    static func suite(name: String) -> String {
        """
        scenarios:
          - name: \(name)
            duration: 1s
            faults:
              - command: { inject: [echo, "${VALUE}"], rollback: [echo, ${VALUE}] }
        """
    }

    @Test(arguments: [
        "a\nb: c", "x, y]", "{evil: 1}", "- z", "'q\"", "#not a comment", "*alias", "&anchor x", "", "null",
    ])
    func aValueWithYAMLSyntaxLandsAsThatExactString(value: String) throws {
        let loader = SuiteLoader(catalog: .standard, environment: ["VALUE": value, "NAME": value])
        let suite = try loader.load(text: Self.suite(name: "\"n-${NAME}\""), path: "/tmp/s.yaml")
        #expect(suite.scenarios.count == 1)
        #expect(suite.scenarios.first?.name == "n-\(value)")
        let parameters = try #require(suite.scenarios.first?.faults.first?.parameters)
        #expect(parameters == ["inject": ["echo", .string(value)], "rollback": ["echo", .string(value)]])
    }

    @Test func substitutionIsIntoScalarsAndKeepsTheirPositionForErrors() {
        let loader = SuiteLoader(catalog: .standard, environment: ["HOLD": "soon\nduration: 1s"])
        do {
            _ = try loader.load(
                text: """
                    scenarios:
                      - name: one
                        duration: ${HOLD}
                        faults:
                          - command: { inject: [true], rollback: [true] }
                    """, path: "s.yaml")
            Issue.record("a value with a line break was read as YAML")
        } catch let error as SuiteErrors {
            #expect(error.errors.count == 1, "\(error)")
            #expect(error.errors.first?.line == 3 && error.errors.first?.column == 15, "\(error)")
            #expect(error.errors.first?.key == "scenarios[0].duration", "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func keysAreSubstitutedToo() throws {
        let loader = SuiteLoader(catalog: .standard, environment: ["KEY": "LOG_LEVEL", "LEVEL": "debug: x"])
        let suite = try loader.load(
            text: """
                setup:
                  - name: api
                    command: [sleep, "60"]
                    env: { ${KEY}: ${LEVEL} }
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - process.pause: { fixture: api }
                """, path: "/tmp/s.yaml")
        #expect(suite.fixtures.first?.environment == ["LOG_LEVEL": "debug: x"])
    }

    @Test func commentsAndUnsetVariablesInThemStillDoNotMatter() throws {
        let loader = SuiteLoader(catalog: .standard, environment: [:])
        let suite = try loader.load(
            text: """
                # ${NOT_SET} in a comment
                scenarios:
                  - name: "one # ${ALSO_NOT_SET:-x}"   # ${NOR_THIS}
                    duration: 1s
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """, path: "/tmp/s.yaml")
        #expect(suite.scenarios.first?.name == "one # x")
    }

    @Test func veryDeepNestingIsRefusedBeforeParsing() {
        for text in [
            String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
            "scenarios: " + String(repeating: "{a: ", count: 100) + "1" + String(repeating: "}", count: 100),
            "scenarios:\n" + (0..<100).map { String(repeating: "  ", count: $0) + "- " + "\n" }.joined(),
        ] {
            do {
                _ = try SuiteLoader(catalog: .standard).load(text: text, path: "deep.yaml")
                Issue.record("a document nested 100 deep was accepted")
            } catch let error as SuiteErrors {
                #expect(error.errors.count == 1)
                #expect(error.errors.first?.message.contains("nested deeper than 64") == true, "\(error)")
                #expect(error.errors.first?.file == "deep.yaml")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func theRefusalNamesTheLineWhateverTheLineBreaks() {
        // "\r\n" is one break; a combining mark or an emoji does not end a line.
        let text = "a: 1\r\nb: \"e\u{301}\u{1F44D}\u{1F3FD}\"\u{2028}c: 2\r\nd: " + String(repeating: "[", count: 80)
        do {
            _ = try SuiteLoader(catalog: .standard).load(text: text, path: "deep.yaml")
            Issue.record("a document nested 80 deep was accepted")
        } catch let error as SuiteErrors {
            #expect(error.errors.map(\.line) == [4], "\(error)")
            // After "d: ", the 64th bracket: with the line's block level, level 65.
            #expect(error.errors.first?.column == 3 + 64, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func moderateNestingAndBracketsInStringsAreFine() throws {
        let suite = try SuiteLoader(catalog: .standard).load(
            text: """
                scenarios:
                  - name: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                    duration: 1s
                    faults:
                      - command: { inject: [sh, -c, '[ x ] && echo "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"'], rollback: [true] }
                      - command:
                          inject: [sh, -c, "#{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"]
                          rollback: [true]
                        name: two
                """, path: "/tmp/s.yaml")
        #expect(suite.scenarios.first?.faults.count == 2)
    }

    @Test func anErrorQuotesAtMostAShortEscapedExcerptOfTheValue() {
        let long = "secret-ish\u{1}" + String(repeating: "x", count: 5000)
        do {
            _ = try SuiteLoader(catalog: .standard).load(
                text: "scenarios: \"\(long.replacingOccurrences(of: "\u{1}", with: "\\x01"))\"\n", path: "s.yaml")
            Issue.record("a string was accepted as the scenarios")
        } catch let error as SuiteErrors {
            let text = error.description
            #expect(text.count < 300, "\(text.count) characters")
            #expect(text.contains("secret-ish\\x01"), "\(text)")
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}

/// `include:` reads only regular files inside the suite's folder tree or `include_roots:`.
@Suite struct IncludeSafetyTests {
    let loader = SuiteLoader(catalog: .standard, environment: ["EBB_TEST_SECRET": "hunter2-include"])

    static let scenario = """
        scenarios:
          - name: one
            duration: 1s
            faults:
              - command: { inject: [true], rollback: [true] }
        """

    func problems(_ include: String, in folder: URL) -> [SuiteError] {
        do {
            _ = try loader.load(
                text: "include: [\(include)]\n" + Self.scenario, path: folder.appendingPathComponent("suite.yaml").path)
            return []
        } catch let error as SuiteErrors {
            return error.errors
        } catch {
            return [SuiteError(file: "?", line: 0, column: 0, key: "?", message: "\(error)")]
        }
    }

    @Test func includesOutsideTheSuitesFolderAreRefusedWithoutReadingThem() throws {
        let scratch = try ScratchDirectory("ebb-include-safety")
        defer { scratch.remove() }
        let folder = scratch.url.appendingPathComponent("suites")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "checks: []\n".write(
            to: scratch.url.appendingPathComponent("outside.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("link.yaml").path,
            withDestinationPath: "../outside.yaml")
        for include in ["/proc/self/environ", "../outside.yaml", "link.yaml", "/etc/passwd"] {
            let found = problems(include, in: folder)
            #expect(found.count == 1, "\(include): \(found)")
            #expect(found.first?.key == "include[0]", "\(include): \(found)")
            #expect(found.first?.message.contains("outside") == true, "\(include): \(found)")
            #expect(found.first?.line == 1, "\(include): \(found)")
            #expect(!"\(found)".contains("hunter2") && !"\(found)".contains("root:x:0"), "\(include): \(found)")
        }
    }

    @Test func aFIFOOrADirectoryInsideTheFolderIsRefusedWithoutHanging() throws {
        let scratch = try ScratchDirectory("ebb-include-fifo")
        defer { scratch.remove() }
        #expect(mkfifo(scratch.url.appendingPathComponent("pipe.yaml").path, 0o600) == 0)
        try FileManager.default.createDirectory(
            at: scratch.url.appendingPathComponent("dir.yaml"), withIntermediateDirectories: true)
        for include in ["pipe.yaml", "dir.yaml"] {
            let found = problems(include, in: scratch.url)
            #expect(
                found.count == 1 && found.first?.message.contains("not a regular file") == true, "\(include): \(found)")
        }
    }
}
