import EbbCore
import Foundation
import Testing

@testable import EbbFaults

/// How the network faults read their parameters and what they plan, without touching the
/// network (the end-to-end NetworkTests measure their effect, as root, in namespaces).
struct NetworkFaultTests {
    /// The one error a fault's parameters produce, as `key: message` (file, line and column are
    /// checked once, in `anErrorNamesTheLineColumnAndKey`).
    func error(_ yaml: String) throws -> String {
        let harness = try FaultHarness()
        defer { harness.remove() }
        do {
            _ = try harness.fault(yaml)
        } catch let errors as SuiteErrors {
            return errors.errors.map { "\($0.key): \($0.message)" }.joined(separator: "\n")
        }
        return "no error"
    }

    @Test func anErrorNamesTheLineColumnAndKey() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        #expect {
            _ = try harness.fault("network.partition: { port: 80, protocol: icmp }")
        } throws: { error in
            let first = (error as? SuiteErrors)?.errors.first
            return first?.line == 6 && first?.column ?? 0 > 0
                && first?.key.hasSuffix("network.partition.protocol") == true
        }
    }

    @Test(arguments: [
        ("network.partition: { port: 80, protocol: icmp }", "protocol: ports need protocol tcp or udp"),
        ("network.partition: { destination: 10.0.0.300 }", "destination: '10.0.0.300' is not an IP address or CIDR"),
        ("network.partition: { destination: 10.0.0.0/33 }", "destination: '10.0.0.0/33' is not an IP address or CIDR"),
        (
            "network.partition: { source: 10.0.0.1, destination: \"fd00::1\" }",
            "destination: source and destination must both be IPv4 or both IPv6"
        ),
        ("network.partition: { direction: sideways }", "direction: 'sideways' is not a direction"),
        ("network.partition: { action: ignore }", "action: 'ignore' is not an action"),
        ("network.partition: { netns: \"../etc\" }", "netns: '../etc' is not a network namespace name"),
        ("network.loss: { percent: 0 }", "percent: percent must be above 0 and at most 100"),
        ("network.loss: { percent: 100.5 }", "percent: percent must be above 0 and at most 100"),
        ("network.bandwidth: { interface: eth0, rate: 8mbps }", "rate: '8mbps' is not a rate"),
        ("network.bandwidth: { interface: \"a/b\", rate: 8mbit }", "interface: 'a/b' is not an interface name"),
        ("network.delay: { delay: 100ms, jitter: 200ms }", "jitter: jitter must be 0, or from 1ms to the delay"),
        ("network.delay: { delay: 100ms, mechanism: netem }", "mechanism: netem delays an interface: give `interface`"),
        (
            "network.delay: { delay: 100ms, mechanism: netem, interface: eth0, port: 80 }",
            "mechanism: netem delays a whole interface's egress"
        ),
        (
            "network.delay: { delay: 100ms, mechanism: nfqueue, interface: eth0 }",
            "interface: nfqueue delays matching packets, not an interface"
        ),
        ("process.throttle: { pid: 4242, percent: 0.5 }", "percent: percent must be from 1 to"),
        ("network.delay: { delay: 500us }", "delay: delay must be from 1ms to 10s"),
        (
            "network.delay: { delay: 100ms, interface: eth0, port: 5432 }",
            "interface: `interface` is for netem, which delays a whole interface"
        ),
        (
            "network.bandwidth: { interface: eth0, rate: 8mbit, burst: 1000 }",
            "burst: burst must be at least 1600 bytes"
        ),
        (
            "network.partition: { destination: 10.0.0.0/+24 }",
            "destination: '10.0.0.0/+24' is not an IP address or CIDR"
        ),
    ])
    func badParametersAreRefusedWithTheReason(yaml: String, expected: String) throws {
        let message = try error(yaml)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func aPortImpliesTCPAndTheMatchReadsAsWritten() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let fault = try harness.fault("network.partition: { destination: 10.1.2.0/24, port: 8080 }")
        let match = try #require((fault as? NftFilterFault)?.match)
        #expect(match.nftExpression == "ip daddr 10.1.2.0/24 meta l4proto tcp th dport 8080")
        #expect(match.directions == [.ingress, .egress])
        #expect(match.iptablesArguments(ipv6: false) == ["-p", "tcp", "-d", "10.1.2.0/24", "--dport", "8080"])
    }

    @Test func icmpWithoutAnAddressCoversBothFamilies() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let fault = try harness.fault("network.loss: { percent: 12.5, protocol: icmp, source: \"fd00::/8\" }")
        let filter = try #require(fault as? NftFilterFault)
        #expect(filter.match.nftExpression == "ip6 saddr fd00::/8 meta l4proto ipv6-icmp")
        #expect(filter.verdict == "numgen random mod 10000 < 1250 drop")
        let any = try #require(try harness.fault("network.loss: { percent: 1, protocol: icmp }") as? NftFilterFault)
        #expect(any.match.nftExpression == "meta l4proto { icmp, ipv6-icmp }")
    }

    @Test func ratesAreSIBits() {
        #expect(BitRate("8mbit")?.bitsPerSecond == 8_000_000)
        #expect(BitRate("512kbit")?.bitsPerSecond == 512_000)
        #expect(BitRate("1.5gbit")?.bitsPerSecond == 1_500_000_000)
        #expect(BitRate("8mbps") == nil)
        #expect(BitRate("0mbit") == nil)
    }

    @Test func tablesHandlesAndQueuesAreTheFaultsOwn() {
        let host = NetworkNamespace(name: nil)
        let table = NftTable(namespace: host, runID: "0badcafe", sequence: 3)
        #expect(table.name == "ebb_0badcafe_3")
        #expect(table.comment.contains("0badcafe"))
        let first = OwnedRootQdisc(namespace: host, interface: "eth0", kind: "tbf", runID: "0badcafe", sequence: 3)
        let second = OwnedRootQdisc(namespace: host, interface: "eth0", kind: "tbf", runID: "0badcafe", sequence: 4)
        #expect(first.handle != second.handle)
        #expect(first.handle.hasPrefix("e") && first.handle.hasSuffix(":"))
        let match = PacketMatch(direction: .egress, transport: .udp, port: 53)
        let delay = DelayStop.Payload(
            namespace: NetworkNamespace(name: "no-such-namespace-\(UUID().uuidString.prefix(6))"),
            runID: "0badcafe", sequence: 3, match: match)
        #expect(delay.rules.map(\.tool) == ["iptables", "ip6tables"])
        #expect(
            delay.rules.allSatisfy {
                $0.chain == "OUTPUT" && $0.arguments.contains("--queue-bypass")
                    && $0.arguments.contains("ebb:0badcafe/3")
            })
        #expect(delay.queue >= 1000)
    }

    @Test func theDryRunPlanSaysWhichDelayMechanismIsUsed() throws {
        let harness = try FaultHarness()
        defer { harness.remove() }
        let fault = try harness.fault("network.delay: { delay: 80ms, jitter: 5ms, protocol: udp, port: 53 }")
        let context = FaultContext(
            runID: FaultContext.dryRunID, runDirectory: harness.runDirectory, sequence: 1, scenario: "s",
            suite: harness.suite, fixturePIDs: [:], logger: harness.logger, services: harness.services)
        let plan = try fault.plan(context)
        #expect(plan.undoKind == DelayStop.kind)
        #expect(plan.target.contains("delayed 80 ms +/- 5 ms (NFQUEUE"), "\(plan.target)")
    }

    @Test func aRuleIsFoundByItsWholeCommentOnly() {
        let listing = """
            -P OUTPUT ACCEPT
            -A OUTPUT -p tcp -m comment --comment "ebb:1a2b/12" -j NFQUEUE --queue-num 1234 --queue-bypass
            """
        #expect(QueueRule.carries(listing, comment: "ebb:1a2b/12"))
        #expect(!QueueRule.carries(listing, comment: "ebb:1a2b/1"))
    }
}
