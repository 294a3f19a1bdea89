import EbbCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The runner's side of one host's agent: an `ebb remote agent` started over ssh, spoken to
/// in lines of JSON on its stdin and stdout. One request at a time per host.
final class AgentConnection: Sendable {
    let host: RemoteHost
    let runID: String
    private let pid: Int32
    private let state: Mutex<Pipes>

    private struct Pipes {
        var toAgent: Int32
        var fromAgent: Int32
        var buffer: [UInt8] = []
        /// The last line that was not a reply: ssh's own complaint, or a remote shell's.
        var lastNoise = ""
        /// Why the agent was given up (a request failed or timed out): later requests fail at once.
        var lost: RemoteHostError?
    }

    /// Starts the agent for run `runID` (the host's journal is named after it) and waits for its hello.
    init(host: RemoteHost, runID: String, executable: String, timeout: Duration) throws {
        self.host = host
        self.runID = runID
        let ssh = SSHCommand(host: host)
        try SSHCommand.prepareControlDirectory()
        var command =
            "exec " + (host.sudo ? "sudo -n " : "") + Shell.path(executable) + " remote agent --state-dir "
            + Shell.path(host.stateDirectory) + " --run-id " + Shell.quoted(runID)
        if ProcessInfo.processInfo.environment["EBB_REMOTE_VERBOSE"] != nil { command += " --verbose" }
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        // pipe2(2) is hidden behind _GNU_SOURCE in Swift's Glibc; close-on-exec is set after.
        guard pipe(&input) == 0 else { throw systemError("cannot make a pipe") }
        guard pipe(&output) == 0 else {
            close(input[0]); close(input[1])
            throw systemError("cannot make a pipe")
        }
        for descriptor in input + output { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let spawned: Int32
        do {
            // Marked as acting for the run: if the runner dies, recovery ends this ssh, the
            // agent reads end-of-file and exits, and the host's guardian reverts its faults.
            spawned = try ChildProcess.spawn(
                ssh.arguments(running: command), environment: InFlightTools.environment,
                input: input[0], output: output[1])
        } catch {
            [input[0], input[1], output[0], output[1]].forEach { close($0) }
            throw RemoteHostError(host: host, problem: "\(error)")
        }
        close(input[0])
        close(output[1])
        pid = spawned
        state = Mutex(Pipes(toAgent: input[1], fromAgent: output[0]))
        do {
            let hello = try state.withLock { try Self.readReply(&$0, host: host, timeout: timeout) }
            guard hello.ok else {
                throw RemoteHostError(host: host, problem: hello.error ?? "the agent refused to start")
            }
        } catch {
            shutDown()
            throw error
        }
    }

    /// Whether a request failed or timed out, so that the agent was given up.
    var isLost: Bool { state.withLock { $0.lost != nil } }

    /// Sends `request` and waits up to `timeout` for the answer.
    func send(_ request: AgentRequest, timeout: Duration) throws -> AgentReply {
        try state.withLock { pipes in
            if let lost = pipes.lost { throw lost }
            do {
                return try Self.exchange(request, &pipes, host: host, timeout: timeout)
            } catch let error as RemoteHostError {
                pipes.lost = error
                throw error
            }
        }
    }

    private static func exchange(
        _ request: AgentRequest, _ pipes: inout Pipes, host: RemoteHost, timeout: Duration
    ) throws -> AgentReply {
        var line = try JSONEncoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(pipes.toAgent, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    throw RemoteHostError(host: host, problem: "the connection to the agent is gone")
                }
                offset += written
            }
        }
        return try readReply(&pipes, host: host, timeout: timeout)
    }

    /// Asks the agent to close its journal, then ends the session (waiting a little for ssh).
    func finish() {
        _ = try? send(AgentRequest(operation: .close), timeout: .seconds(10))
        shutDown()
    }

    private func shutDown() {
        state.withLock { pipes in
            if pipes.toAgent >= 0 { close(pipes.toAgent); pipes.toAgent = -1 }
        }
        if ChildProcess.wait(pid, timeout: .seconds(5)) == nil {
            kill(-pid, SIGKILL)
            _ = ChildProcess.wait(pid, timeout: nil)
        }
        state.withLock { pipes in
            if pipes.fromAgent >= 0 { close(pipes.fromAgent); pipes.fromAgent = -1 }
        }
    }

    deinit {
        state.withLock { pipes in
            if pipes.toAgent >= 0 { close(pipes.toAgent) }
            if pipes.fromAgent >= 0 { close(pipes.fromAgent) }
        }
    }

    private static func readReply(_ pipes: inout Pipes, host: RemoteHost, timeout: Duration) throws -> AgentReply {
        let end = ContinuousClock.now + timeout
        while true {
            if let newline = pipes.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pipes.buffer[..<newline])
                pipes.buffer.removeSubrange(...newline)
                // ssh, the remote shell and the agent's log share the stream; replies are the JSON lines.
                if let reply = try? JSONDecoder().decode(AgentReply.self, from: Data(line)) { return reply }
                let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                if !text.isEmpty { pipes.lastNoise = text }
                continue
            }
            let left = end - ContinuousClock.now
            guard left > .zero else {
                throw RemoteHostError(
                    host: host, problem: "no answer within \(DurationText.format(timeout)) (host lost?)")
            }
            var entry = pollfd(fd: pipes.fromAgent, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(max(1, left.seconds * 1000)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(pipes.fromAgent, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let said = pipes.lastNoise.isEmpty ? "" : ": \(Excerpt.of(pipes.lastNoise, limit: 300))"
                throw RemoteHostError(
                    host: host,
                    problem: "the connection to the agent closed (host lost, or ebb cannot run there)\(said)")
            }
            pipes.buffer.append(contentsOf: chunk[..<count])
        }
    }
}
