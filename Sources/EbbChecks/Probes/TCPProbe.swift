import Foundation
import NIOCore
import NIOPosix

/// Healthy when a TCP connection to the address is accepted within the timeout.
struct TCPProbe: Probe {
    let spec: TCPProbeSpec

    func sample() async -> ProbeOutcome {
        let spec = spec
        do {
            // Name resolution is not covered by the connect timeout; the deadline covers all.
            return try await Deadline.run(within: spec.timeout) {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(TimeAmount(spec.timeout))
                    .connect(host: spec.host, port: spec.port).get()
                try? await channel.close()
                return ProbeOutcome(healthy: true, detail: "connected", answered: true)
            }
        } catch {
            return ProbeOutcome(healthy: false, detail: HTTPProbe.describe(error), answered: false)
        }
    }
}
