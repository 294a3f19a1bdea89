import Foundation
import Testing

@testable import EbbChecks

/// The sampler keeps its schedule against a slow target: samples overlap instead of queueing.
@Suite struct SamplerTests {
    @Test func aSlowTargetMakesSamplesOverlapInsteadOfStretchingTheSchedule() async {
        // Each sample takes 200ms (a real command), four times the interval.
        let probe = CommandProbe(
            spec: CommandProbeSpec(
                command: ["sleep", "0.2"], exitCode: 0, outputContains: nil, outputMatches: nil,
                timeout: .seconds(5), directory: "/"), secrets: Secrets())
        let sampler = Sampler(probe: probe, interval: .milliseconds(50), timeout: .seconds(5))
        sampler.start()
        let enough = await sampler.wait(until: .now + .seconds(60)) { $0.count >= 8 }
        await sampler.stop(drain: true)
        #expect(enough)
        let samples = sampler.snapshot
        #expect(samples.allSatisfy { $0.outcome.healthy })
        // Schedules are whole multiples of the interval from the first sample.
        let origin = samples[0].scheduled
        #expect(
            samples.allSatisfy {
                ($0.scheduled - origin) / .milliseconds(50) == (($0.scheduled - origin) / .milliseconds(50)).rounded()
            })
        // Samples one interval apart were each due before the one ahead had finished: the
        // schedule never waited for an answer. (A starved machine makes the scheduler skip
        // ticks, which it counts as missed; those gaps say nothing about waiting.)
        let neighbours = zip(samples, samples.dropFirst()).filter { $1.scheduled - $0.scheduled == .milliseconds(50) }
        #expect(!neighbours.isEmpty, "no two samples one interval apart; \(sampler.missedTicks) ticks missed")
        #expect(neighbours.allSatisfy { $1.scheduled < $0.finished })
    }

    @Test func probesReportRefusedConnectionsAsFailures() async {
        let port = 1  // tcpmux: nothing listens on it on a CI machine
        let outcome = await TCPProbe(spec: TCPProbeSpec(host: "127.0.0.1", port: port, timeout: .seconds(2))).sample()
        #expect(!outcome.healthy)
        #expect(outcome.detail == "connection refused")
        let command = await CommandProbe(
            spec: CommandProbeSpec(
                command: ["sh", "-c", "echo degraded; exit 0"], exitCode: 0, outputContains: "ready",
                outputMatches: nil, timeout: .seconds(5), directory: "/"), secrets: Secrets()
        ).sample()
        #expect(!command.healthy)
        #expect(command.detail == "exit 0, output lacks 'ready'")
    }

    @Test func secretsAreRedactedFromAnyText() throws {
        let secrets = Secrets(environment: ["TOKEN": "s3cr3t-value"])
        let token = try secrets.token(from: "TOKEN")
        #expect(secrets.redact("failed: Authorization: Bearer \(token)") == "failed: Authorization: Bearer [redacted]")
        #expect(throws: Secrets.Missing.self) { try secrets.token(from: "UNSET") }
    }
}
