import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Starts a suite's fixtures (each armed in the journal first) and waits until they are ready.
struct FixtureSupervisor {
    let scope: RollbackScope
    let logDirectory: URL
    /// How long a fixture may outlive the runner's last renewal (see ``RollbackScope/renewDeadlines(lifetime:)``).
    let lifetime: Duration

    /// Starts `fixture` and returns its pid once it is ready.
    func start(_ fixture: Fixture, sequence: Int) async throws -> Int32 {
        try Task.checkCancellation()
        let marker = "\(scope.journal.runID)/\(fixture.name)"
        let payload = FixtureStop.Payload(name: fixture.name, marker: marker)
        let plan = try FaultPlan(target: "fixture \(fixture.name)", undo: FixtureStop.self, payload: payload,
                                 undoSummary: "stop process group of fixture \(fixture.name)")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        let log = logDirectory.appendingPathComponent("fixture-\(fixture.name).log").path
        // EBB_EXECUTABLE: so a fixture's script can start `ebb demo-target` and the like with this very binary.
        let environment = fixture.environment.merging([FixtureStop.environmentKey: marker, "EBB_EXECUTABLE": ChildProcess.currentExecutable]) { $1 }
        let record = try scope.armAndAct(Arming(fault: "fixture \(fixture.name)", plugin: "setup", plan: plan, sequence: sequence) {
            var started = payload
            let pid = try ChildProcess.spawn(fixture.command, environment: environment, directory: fixture.directory, outputPath: log)
            started.pid = pid
            started.startTime = ProcessTable.snapshot(pid)?.startTime
            return try JSONValue(encoding: started)
        }, lifetime: lifetime)
        guard let pid = try record.data.decode(FixtureStop.Payload.self).pid else {
            throw SetupFailure(description: "fixture \(fixture.name) started without a pid")
        }
        if let readiness = fixture.readiness {
            try await waitUntilReady(fixture, readiness, pid: pid, log: log)
        }
        return pid
    }

    private func waitUntilReady(_ fixture: Fixture, _ readiness: Readiness, pid: Int32, log: String) async throws {
        let clock = ContinuousClock()
        let end = clock.now + readiness.timeout
        var lastProblem = "not ready"
        while clock.now < end {
            try Task.checkCancellation()
            if let status = ChildProcess.reap(pid) {
                throw SetupFailure(description: "fixture \(fixture.name) exited with status \(status) before it was ready; its output:\n\(Self.tail(of: log))")
            }
            switch await Self.probe(readiness.condition, directory: fixture.directory) {
            case .success: return
            case .failure(let problem): lastProblem = problem.description
            }
            // A retry cadence, not a wait for time to pass: the probe itself is the condition.
            try await Task.sleep(for: .milliseconds(100))
        }
        throw SetupFailure(description: "fixture \(fixture.name) was not ready within \(DurationText.format(readiness.timeout)) (\(lastProblem)); its output:\n\(Self.tail(of: log))")
    }

    static func probe(_ condition: Readiness.Condition, directory: String) async -> Result<Void, SetupFailure> {
        switch condition {
        case .http(let url):
            var request = URLRequest(url: url)
            request.timeoutInterval = 2
            do {
                let (_, response) = try await URLSession.shared.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                return (200..<300).contains(status) ? .success(()) : .failure(SetupFailure(description: "HTTP \(status)"))
            } catch {
                return .failure(SetupFailure(description: error.localizedDescription))
            }
        case .tcp(let host, let port):
            return TCPConnect.attempt(host: host, port: port)
        case .command(let arguments):
            return await Blocking.perform {
                do {
                    let result = try ChildProcess.run(arguments, timeout: .seconds(5), directory: directory)
                    guard result.status != 0 else { return .success(()) }
                    let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    return .failure(SetupFailure(description: "\(arguments[0]) exited with status \(result.status)" + (output.isEmpty ? "" : ": \(output.suffix(200))")))
                } catch {
                    return .failure(SetupFailure(description: "\(error)"))
                }
            }
        }
    }

    static func tail(of path: String) -> String {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        return String(decoding: data.suffix(2048), as: UTF8.self)
    }
}

/// A fixture that failed to start or to become ready.
public struct SetupFailure: Error, CustomStringConvertible {
    public var description: String
}

/// One TCP connect attempt, for readiness checks.
enum TCPConnect {
    static func attempt(host: String, port: UInt16) -> Result<Void, SetupFailure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return .failure(SetupFailure(description: "cannot resolve \(host)"))
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(SetupFailure(description: systemError("socket").description)) }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure(SetupFailure(description: systemError("connect", "\(host):\(port)").description))
        }
        return .success(())
    }
}
