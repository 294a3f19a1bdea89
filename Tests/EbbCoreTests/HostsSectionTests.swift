import EbbCore
import EbbFaults
import EbbTestSupport
import Foundation
import Testing

/// The `hosts:` section and the `host:` / `hosts:` selectors on a fault: what they read, and
/// the place and wording of every refusal (nothing is injected on an invalid suite).
@Suite struct HostsSectionTests {
    let loader = SuiteLoader(catalog: .standard, remoteFaults: RemoteFleet())

    static let hosts = """
        hosts:
          - { name: web1, address: 10.9.0.11, user: deploy, port: 2222, identity: keys/id, labels: { role: web } }
          - { name: web2, address: web2.internal, labels: { role: web }, sudo: true }
          - { name: db1, address: 10.9.0.13, labels: { role: db }, options: { ProxyJump: bastion } }

        """

    func suite(selector: String, hosts: String = Self.hosts) -> String {
        hosts + """
            scenarios:
              - name: s
                duration: 1s
                faults:
                  - network.partition: { direction: ingress, port: 8080 }
                    \(selector)
            """
    }

    func errors(_ yaml: String, loader: SuiteLoader? = nil) -> [SuiteError] {
        (loader ?? self.loader).errors(loading: yaml, path: "/srv/chaos/suite.yaml")
    }

    @Test func aHostReadsEveryKeyAndPathsAreRelativeToTheSuite() throws {
        let suite = try loader.load(text: suite(selector: "host: web1"), path: "/srv/chaos/suite.yaml")
        let web1 = try #require(suite.hosts.first { $0.name == "web1" })
        #expect(web1.address == "10.9.0.11")
        #expect(web1.user == "deploy")
        #expect(web1.port == 2222)
        #expect(web1.identityFile == "/srv/chaos/keys/id")
        #expect(web1.labels == ["role": "web"])
        #expect(web1.sudo == false)
        #expect(web1.sshCommand == ["ssh"])
        #expect(suite.hosts.first { $0.name == "web2" }?.sudo == true)
        #expect(suite.hosts.first { $0.name == "db1" }?.options == ["ProxyJump": "bastion"])
        #expect(suite.scenarios[0].faults.map(\.name) == ["network.partition@web1"])
    }

    @Test func aLabelSelectorOrAListMakesOneFaultPerHost() throws {
        let byLabel = try loader.load(text: suite(selector: "hosts: { role: web }"), path: "/srv/chaos/suite.yaml")
        #expect(byLabel.scenarios[0].faults.map(\.name) == ["network.partition@web1", "network.partition@web2"])
        let byName = try loader.load(text: suite(selector: "hosts: [db1, web2]"), path: "/srv/chaos/suite.yaml")
        #expect(byName.scenarios[0].faults.map(\.name) == ["network.partition@db1", "network.partition@web2"])
        #expect(byName.scenarios[0].faults.allSatisfy { $0.pluginID == "network.partition" })
    }

    @Test func hostKeyCheckingCannotBeTurnedOff() {
        for value in ["no", "off", "accept-new"] {
            let problems = errors(
                suite(
                    selector: "host: web1",
                    hosts: """
                        hosts:
                          - { name: web1, address: 10.9.0.11, options: { StrictHostKeyChecking: \(value) } }

                        """))
            #expect(problems.first?.key == "hosts[0].options.StrictHostKeyChecking", "\(problems)")
            #expect(problems.first?.message.contains("known_hosts") == true)
            #expect(problems.first?.line == 2)
        }
    }

    @Test func aHostNeedsANameAndASafeAddress() {
        let missing = errors(suite(selector: "host: web1", hosts: "hosts:\n  - { name: web1 }\n"))
        #expect(missing.first?.key == "hosts[0].address", "\(missing)")
        let option = errors(
            suite(selector: "host: web1", hosts: "hosts:\n  - { name: web1, address: -oProxyCommand=x }\n"))
        #expect(option.first?.key == "hosts[0].address", "\(option)")
        #expect(option.first?.message.contains("not an address") == true)
        let twice = errors(
            suite(
                selector: "host: web1",
                hosts: "hosts:\n  - { name: web1, address: a }\n  - { name: web1, address: b }\n"))
        #expect(twice.first?.key == "hosts[1].name", "\(twice)")
        let unknownKey = errors(
            suite(selector: "host: web1", hosts: "hosts:\n  - { name: web1, address: a, pasword: x }\n"))
        #expect(unknownKey.first?.key.hasPrefix("hosts[0]") == true, "\(unknownKey)")
    }

    @Test func aSelectorNamesOnlyKnownHostsAndSaysWhatItMeant() {
        let typo = errors(suite(selector: "host: web3"))
        #expect(typo.first?.key == "scenarios[0].faults[0].host", "\(typo)")
        #expect(typo.first?.message.contains("did you mean") == true, "\(typo)")
        let noSection = errors(suite(selector: "host: web1", hosts: ""))
        #expect(noSection.first?.message.contains("no 'hosts:' section") == true, "\(noSection)")
        let noMatch = errors(suite(selector: "hosts: { role: cache }"))
        #expect(noMatch.first?.message.contains("role=cache") == true, "\(noMatch)")
        let both = errors(suite(selector: "host: web1\n        hosts: [web2]"))
        #expect(both.first?.message.contains("not both") == true, "\(both)")
        let twice = errors(suite(selector: "hosts: [web1, web1]"))
        #expect(twice.first?.key == "scenarios[0].faults[0].hosts[1]", "\(twice)")
    }

    @Test func aFaultOnAHostCannotTargetAFixtureOfTheRunner() {
        let problems = errors(
            """
            hosts:
              - { name: web1, address: 10.9.0.11 }
            setup:
              - { name: api, command: [sleep, "60"] }
            scenarios:
              - name: s
                duration: 1s
                faults:
                  - process.pause: { fixture: api }
                    host: web1
            """)
        #expect(problems.first?.key == "scenarios[0].faults[0].host", "\(problems)")
        #expect(problems.first?.message.contains("cannot target a fixture by name") == true, "\(problems)")
    }

    func fixtureSuite(api: String, fault: String = "process.pause: { fixture: local }") -> String {
        """
        hosts:
          - { name: web1, address: 10.9.0.11 }
        setup:
          - { name: api, command: [ebb, demo-target], \(api) }
          - { name: local, command: [sleep, "60"] }
        scenarios:
          - name: s
            duration: 1s
            faults:
              - \(fault)
        """
    }

    @Test func aFixtureRunsOnOneNamedHostInItsDirectoryThere() throws {
        let suite = try loader.load(
            text: fixtureSuite(api: "host: web1, directory: srv"), path: "/srv/chaos/suite.yaml")
        #expect(suite.fixtures.map { $0.host?.name } == ["web1", nil])
        #expect(
            suite.fixtures.map(\.directory) == ["srv", "/srv/chaos"],
            "a path on a host is as written; here, relative to the suite")
        #expect(suite.context.fixtureNames == ["local"])
        #expect(suite.context.remoteFixtureHosts == ["api": "web1"])

        let unknown = errors(fixtureSuite(api: "host: web9"))
        #expect(unknown.first?.key == "setup[0].host", "\(unknown)")
        #expect(unknown.first?.message.contains("did you mean 'web1'?") == true, "\(unknown)")
        let list = errors(fixtureSuite(api: "host: [web1]"))
        #expect(list.first?.key == "setup[0].host", "\(list)")
        #expect(list.first?.message == "a fixture runs on one host: give its name", "\(list)")
    }

    @Test func aFaultOnTheRunnerCannotTargetAFixtureOnAHost() {
        let problems = errors(fixtureSuite(api: "host: web1", fault: "process.pause: { fixture: api }"))
        #expect(problems.map(\.key) == ["scenarios[0].faults[0].process.pause.fixture"], "\(problems)")
        #expect(problems.first?.message.contains("fixture 'api' runs on host web1") == true, "\(problems)")
    }

    @Test func aBuildWithoutRemoteSupportRefusesHostsWhereTheyAreWritten() {
        let problems = errors(suite(selector: "host: web1"), loader: SuiteLoader(catalog: .standard))
        #expect(problems.map(\.key).contains("hosts"), "\(problems)")
        #expect(problems.allSatisfy { $0.message.contains("cannot act on remote hosts") }, "\(problems)")
    }
}
