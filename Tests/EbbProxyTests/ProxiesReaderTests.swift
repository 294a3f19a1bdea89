import EbbCore
import EbbProxy
import Foundation
import Testing

@Suite("proxies: section and proxy fault parameters")
struct ProxiesReaderTests {
    /// The proxies of a suite whose one fault is on proxy `faultOn`.
    static func load(
        _ yaml: String, faultOn proxy: String = "api", loader: SuiteLoader = loader
    ) throws -> [any SuiteProxy] {
        try loader.load(
            text: yaml
                + "\nscenarios:\n  - { name: s, duration: 1s, faults: [{ proxy.toxic: { proxy: \(proxy), toxic: timeout } }] }\n",
            path: "/tmp/proxies.yaml"
        ).proxies
    }

    static let loader = SuiteLoader(catalog: .proxies, proxyReader: ProxiesReader(services: LiveServices()))

    /// The errors of a suite with one proxy `api` and one fault.
    func errors(
        _ fault: String,
        proxies: String = "proxies:\n  - { name: api, listen: \"127.0.0.1:18080\", upstream: \"127.0.0.1:8080\" }\n"
    ) -> [SuiteError] {
        let text = proxies + "scenarios:\n  - name: s\n    duration: 1s\n    faults:\n      - \(fault)\n"
        do {
            _ = try Self.loader.load(text: text, path: "/tmp/proxies.yaml")
            return []
        } catch let error as SuiteErrors {
            return error.errors
        } catch {
            return [SuiteError(file: "?", line: 0, column: 0, key: "?", message: "\(error)")]
        }
    }

    @Test("a valid proxy and faults load; the outline names both ends")
    func valid() throws {
        let proxies = try Self.load(
            "proxies:\n  - { name: api, listen: \"127.0.0.1:18080\", upstream: \"localhost:8080\" }")
        #expect(proxies.map(\.outline) == ["api 127.0.0.1:18080 -> localhost:8080"])
        #expect(
            errors(
                "proxy.toxic: { proxy: api, toxic: latency, latency: 100ms, jitter: 10ms, direction: upstream, toxicity: 0.5 }"
            ).isEmpty)
        #expect(
            errors("proxy.http: { proxy: api, method: GET, path: /api, ratio: 0.1, status: 503, body: busy }").isEmpty)
    }

    @Test(
        "bad input names file, line, column and key",
        arguments: [
            (
                "proxy.toxic: { proxy: apu, toxic: latency, latency: 1s }", "scenarios[0].faults[0].proxy.toxic.proxy",
                "no proxy named 'apu'"
            ),
            (
                "proxy.toxic: { proxy: api, toxic: lag }", "scenarios[0].faults[0].proxy.toxic.toxic",
                "unknown toxic 'lag'"
            ),
            (
                "proxy.toxic: { proxy: api, toxic: latency, rate: 1K, latency: 1s }",
                "scenarios[0].faults[0].proxy.toxic.rate", "does not apply to the latency toxic"
            ),
            (
                "proxy.toxic: { proxy: api, toxic: bandwidth }", "scenarios[0].faults[0].proxy.toxic.rate",
                "needs 'rate'"
            ),
            (
                "proxy.toxic: { proxy: api, toxic: timeout, direction: sideways }",
                "scenarios[0].faults[0].proxy.toxic.direction", "upstream or downstream"
            ),
            (
                "proxy.toxic: { proxy: api, toxic: limit_data, bytes: 10, toxicity: 2 }",
                "scenarios[0].faults[0].proxy.toxic.toxicity", "from 0 to 1"
            ),
            (
                "proxy.http: { proxy: api, status: 503, abort: true }", "scenarios[0].faults[0].proxy.http.abort",
                "exactly one of"
            ),
            ("proxy.http: { proxy: api, status: 700 }", "scenarios[0].faults[0].proxy.http.status", "100 to 599"),
        ])
    func badFault(fault: String, key: String, message: String) {
        let found = errors(fault)
        #expect(found.count == 1)
        #expect(found.first?.key == key)
        #expect(found.first?.message.contains(message) == true, "\(found)")
        #expect(found.first?.line == 7 && found.first?.file == "/tmp/proxies.yaml")
        #expect((found.first?.column ?? 0) > 1)
    }

    @Test("bad proxies: sections are refused with their position")
    func badSection() {
        let duplicate = errors(
            "proxy.toxic: { proxy: api, toxic: timeout }",
            proxies: """
                proxies:
                  - { name: api, listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080" }
                  - { name: api, listen: "127.0.0.1:18081", upstream: "127.0.0.1:8080" }

                """)
        #expect(duplicate.contains { $0.key == "proxies[1].name" && $0.line == 3 })
        let address = errors(
            "proxy.toxic: { proxy: api, toxic: timeout }",
            proxies: """
                proxies:
                  - { name: api, listen: "18080", upstream: "127.0.0.1:8080" }

                """)
        #expect(
            address.contains { $0.key == "proxies[0].listen" && $0.message.contains("not host:port") && $0.line == 2 })
        let unknown = errors(
            "proxy.toxic: { proxy: api, toxic: timeout }",
            proxies: """
                proxies:
                  - { name: api, listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080", lisen: x }

                """)
        #expect(unknown.contains { $0.key == "proxies[0].lisen" })
    }
}
