import ArgumentParser
import EbbFaults
import Foundation

/// The user-space packet delayer of `network.delay`; hidden, started by ebb itself.
struct DelayWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delay-worker", shouldDisplay: false)

    @Option var queue: UInt16
    @Option var delayMs: Int64
    @Option var jitterMs: Int64 = 0
    @Option(help: "Unix time at which the delayer ends itself.") var until: Double
    @Option var readyFile: String?

    func run() throws {
        let delayer = PacketDelayer(
            options: .init(
                queue: queue, delay: .milliseconds(delayMs), jitter: .milliseconds(jitterMs),
                until: Date(timeIntervalSince1970: until), readyFile: readyFile))
        let delayed = try delayer.run()
        print("delay-worker: queue \(queue): delayed \(delayed) packets")
    }
}
