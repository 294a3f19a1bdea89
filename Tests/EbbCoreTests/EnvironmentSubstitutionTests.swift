import EbbCore
import EbbFaults
import Testing

@Suite struct EnvironmentSubstitutionTests {
    let environment = ["HOST": "10.1.2.3", "EMPTY": ""]

    @Test func variablesDefaultsAndEscapesAreExpanded() throws {
        let text = try EnvironmentSubstitution.expand(
            """
            url: http://${HOST}:${PORT:-8080}/x   # ${NOT_SET} in a comment is left alone
            literal: "$${HOST} and $5 and ${EMPTY}."
            """, file: "s.yaml", environment: environment)
        #expect(
            text == """
                url: http://10.1.2.3:8080/x   # ${NOT_SET} in a comment is left alone
                literal: "${HOST} and $5 and ."
                """)
    }

    @Test func everyUnsetVariableIsNamedWithItsPlace() {
        do {
            _ = try EnvironmentSubstitution.expand(
                "a: ${MISSING}\nb: x ${ALSO_MISSING} ${1BAD}\n", file: "s.yaml", environment: environment)
            Issue.record("unset variables were accepted")
        } catch let error as SuiteErrors {
            #expect(error.errors.map { "\($0.line):\($0.column)" } == ["1:4", "2:6", "2:22"])
            #expect(error.errors[0].message.contains("MISSING is not set"))
            #expect(error.errors[2].message.contains("is not a variable reference"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func textWithoutReferencesKeepsItsLinesAndJoinsOtherBreaksWithNewlines() throws {
        let plain = "a: 1\nb: [x, y]  # note\n\nc: 'it''s'\n"
        let prepared = try EnvironmentSubstitution.prepare(plain, file: "s.yaml", environment: [:])
        #expect(prepared.text == plain)
        #expect(prepared.values.isEmpty)
        let mixed = try EnvironmentSubstitution.prepare(
            "a: 1\r\nb: 2\u{2028}c: 3\u{0C}d: 4", file: "s.yaml", environment: [:])
        #expect(mixed.text == "a: 1\nb: 2\nc: 3\nd: 4")
    }

    @Test func theLoaderSubstitutesBeforeReading() throws {
        let loader = SuiteLoader(catalog: .standard, environment: ["HOLD": "250ms"])
        let suite = try loader.load(
            text: """
                scenarios:
                  - name: one
                    duration: ${HOLD}
                    faults:
                      - command: { inject: [true], rollback: [true] }
                """, path: "s.yaml")
        #expect(suite.scenarios[0].duration == .milliseconds(250))
    }
}

@Suite struct EnvironmentCommentTests {
    @Test func apostrophesAndEscapedQuotesDoNotHideComments() throws {
        let text = try EnvironmentSubstitution.expand(
            "note: it's slow  # see ${RUNBOOK}\r\npath: \"C:\\\\\" # ${X}\r\nq: \"a \\\" # ${Y}\"\n",
            file: "s.yaml", environment: ["Y": "y"])
        #expect(text == "note: it's slow  # see ${RUNBOOK}\npath: \"C:\\\\\" # ${X}\nq: \"a \\\" # y\"\n")
    }
}
