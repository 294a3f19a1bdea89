@testable import EbbChecks
import Testing

@Suite struct TelemetryParsingTests {
    @Test func theExpositionFormatIsReadWithLabelsEscapesAndSpecialValues() throws {
        let samples = try Exposition.parse(#"""
        # HELP http_requests_total Requests.
        # TYPE http_requests_total counter
        http_requests_total{code="200",path="/a \"b\"\\c"} 1027 1395066363000
        http_requests_total{code="500"} 3
        queue_depth +Inf
        temperature{ room = "lab" , } -1.5e2

        """#)
        #expect(samples.count == 4)
        #expect(samples[0] == ExposedSample(name: "http_requests_total", labels: ["code": "200", "path": #"/a "b"\c"#], value: 1027))
        #expect(samples[2].value == .infinity)
        #expect(samples[3] == ExposedSample(name: "temperature", labels: ["room": "lab"], value: -150))
    }

    @Test func aBrokenExpositionNamesTheLine() {
        #expect(throws: Exposition.SyntaxError.self) { try Exposition.parse("ok 1\nbroken{code=\"5} 1\n") }
        do {
            _ = try Exposition.parse("ok 1\nno_value\n")
            Issue.record("a sample without a value parsed")
        } catch {
            #expect("\(error)".contains("line 2"))
        }
    }

    @Test func comparisonsReadAsWrittenAndHoldAsStated() {
        #expect(Comparison("<= 5")?.holds(for: 5) == true)
        #expect(Comparison("<5")?.holds(for: 5) == false)
        #expect(Comparison("> 0.1")?.holds(for: 0.2) == true)
        #expect(Comparison(">= 3")?.holds(for: 2.9) == false)
        #expect(Comparison("== 0")?.holds(for: 0) == true)
        #expect(Comparison("between 1 and 2")?.holds(for: 2) == true)
        #expect(Comparison("between 1 and 2")?.holds(for: 2.5) == false)
        #expect(Comparison("between 2 and 1") == nil)
        #expect(Comparison("about 5") == nil)
        #expect(Comparison("=< 5") == nil)
        #expect(Comparison("<= 0.25")?.description == "<= 0.25")
    }
}
