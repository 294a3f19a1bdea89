import EbbCore
import Foundation

/// Runs a command; healthy when it exits with the expected code and its output matches.
struct CommandProbe: Probe {
    let spec: CommandProbeSpec
    let secrets: Secrets

    func sample() async -> ProbeOutcome {
        // ChildProcess.run blocks its thread until the command ends; keep that off the
        // cooperative pool, which the samplers and the runner need.
        let spec = spec
        let result = await Blocking.perform {
            Result { try ChildProcess.run(spec.command, timeout: spec.timeout, directory: spec.directory) }
        }
        switch result {
        case .failure(let error):
            let text = String(describing: error)
            return ProbeOutcome(
                healthy: false, detail: secrets.redact(text.contains("did not finish") ? "timed out" : text),
                answered: false)
        case .success(let (status, output)):
            guard status == spec.exitCode else {
                return ProbeOutcome(healthy: false, detail: "exit \(status)", answered: true)
            }
            if let needle = spec.outputContains, !output.contains(needle) {
                return ProbeOutcome(
                    healthy: false, detail: "exit \(status), output lacks '\(secrets.redact(needle))'", answered: true)
            }
            if let pattern = spec.outputMatches, output.range(of: pattern, options: .regularExpression) == nil {
                return ProbeOutcome(
                    healthy: false, detail: "exit \(status), output does not match /\(pattern)/", answered: true)
            }
            return ProbeOutcome(healthy: true, detail: "exit \(status)", answered: true)
        }
    }
}
