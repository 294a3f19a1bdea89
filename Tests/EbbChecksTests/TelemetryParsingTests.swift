import EbbCore
import Foundation
import Testing

@testable import EbbChecks

@Suite struct TelemetryParsingTests {
    @Test func theExpositionFormatIsReadWithLabelsEscapesAndSpecialValues() throws {
        let samples = try Exposition.parse(
            #"""
            # HELP http_requests_total Requests.
            # TYPE http_requests_total counter
            http_requests_total{code="200",path="/a \"b\"\\c"} 1027 1395066363000
            http_requests_total{code="500"} 3
            queue_depth +Inf
            temperature{ room = "lab" , } -1.5e2

            """#)
        #expect(samples.count == 4)
        #expect(
            samples[0]
                == ExposedSample(
                    name: "http_requests_total", labels: ["code": "200", "path": #"/a "b"\c"#], value: 1027))
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

@Suite struct ReviewFindingTests {
    @Test func counterResetsAreTrackedPerSeriesAndNewSeriesCountFully() {
        // Series a resets 100 -> 0 -> 20 while b grows 0 -> 150; c appears with 7.
        let increase = ScrapeWatch.increase([["a": 100, "b": 0], ["a": 0, "b": 150], ["a": 20, "b": 150, "c": 7]])
        #expect(increase == 0 + 150 + 20 + 7)
    }

    @Test func windowsLineEndingsAreLinesToo() throws {
        let samples = try Exposition.parse("# TYPE x counter\r\nx 1\r\ny{a=\"b\"} 2\r\n")
        #expect(samples.map(\.name) == ["x", "y"])
    }

    @Test func tokensWithControlCharactersAreRefused() {
        let secrets = Secrets(environment: ["TOKEN": "abc\r"])
        #expect(throws: Secrets.Unusable.self) { try secrets.token(from: "TOKEN") }
    }

    @Test func aStalledBodyTimesOutInsteadOfHangingTheSample() async throws {
        // A server that sends its headers, then nothing.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ebb-stall-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let portFile = folder.appendingPathComponent("port").path
        let script = """
            import socket, sys, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
            import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            conns = []
            while True:
                c, _ = s.accept(); c.recv(4096)
                c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\nok"); conns.append(c)
            """
        let pid = try ChildProcess.spawn(["python3", "-c", script, portFile])
        defer {
            kill(pid, SIGKILL)
            _ = ChildProcess.wait(pid, timeout: .seconds(5))
        }
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(25)) }
        }
        let bound = try #require(port)
        let url = try #require(URL(string: "http://127.0.0.1:\(bound)/"))
        let clients = HTTPClients()
        let spec = HTTPProbeSpec(
            url: url, method: "GET", headers: [], bearerTokenVariable: nil, statuses: [200...299],
            bodyContains: nil, bodyMatches: nil, verifiesTLS: true, timeout: .milliseconds(300))
        let outcome = await HTTPProbe(
            spec: spec, client: clients.client(verifyingTLS: true), token: nil, secrets: Secrets()
        ).sample()
        await clients.shutdown()
        #expect(!outcome.healthy)
        #expect(outcome.detail == "timed out")
    }
}
