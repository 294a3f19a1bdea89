import Foundation
import Logging
import Synchronization

/// Starts a suite's fixtures (each armed in the journal first) and waits until they are ready.
///
/// Fixtures on hosts are armed in a scope of their own (``hostScope``): the runner stops them
/// while it is still connected to their hosts, before it lets the hosts' agents go, and renews
/// their deadlines on the hosts too, so a host's guardian stops one only when the runner stalls.
final class FixtureSupervisor: Sendable {
    let scope: RollbackScope
    let hostScope: RollbackScope
    let logDirectory: URL
    /// How long a fixture may outlive the runner's last renewal (see ``renew()``).
    let lifetime: Duration
    let suite: Suite
    let logger: Logger
    let services: LiveServices
    private let onHosts = Mutex<[StartedOnHost]>([])

    private struct StartedOnHost: Sendable {
        var fixture: any RemoteFixture
        var plan: FaultPlan
        var context: FaultContext
    }

    init(
        scope: RollbackScope, hostScope: RollbackScope, logDirectory: URL, lifetime: Duration, suite: Suite,
        logger: Logger, services: LiveServices
    ) {
        self.services = services
        self.scope = scope
        self.hostScope = hostScope
        self.logDirectory = logDirectory
        self.lifetime = lifetime
        self.suite = suite
        self.logger = logger
    }

    /// Starts `fixture` and returns its pid (on its host, for one on a host) once it is ready.
    func start(_ fixture: Fixture, sequence: Int) async throws -> Int32 {
        try Task.checkCancellation()
        let process = FixtureProcess(
            fixture, logPath: logDirectory.appending(path: "fixture-\(fixture.name).log").path)
        let context = FaultContext(
            runID: scope.journal.runID, runDirectory: scope.journal.directory, sequence: sequence,
            scenario: scope.scenario,
            suite: suite.context, fixturePIDs: [:], logger: logger,
            deadline: Date().addingTimeInterval(lifetime.seconds), services: services)
        if let host = fixture.host, let remote = suite.remote {
            return try await start(try remote.fixture(process, on: host), fixture, on: host, context: context)
        }
        let plan = try process.plan(context)
        let record = try scope.armAndAct(
            Arming(fault: "fixture \(fixture.name)", plugin: FixtureProcess.plugin, plan: plan, sequence: sequence) {
                try JSONValue(encoding: process.start(plan))
            }, lifetime: lifetime)
        guard let pid = try record.data.decode(FixtureStop.Payload.self).pid else {
            throw SetupFailure(description: "fixture \(fixture.name) started without a pid")
        }
        if let readiness = fixture.readiness {
            try await waitUntilReady(fixture, readiness, output: "; its output:\n\(process.outputTail)") {
                if let status = ChildProcess.reap(pid) {
                    return .exited(
                        "exited with status \(status) before it was ready; its output:\n\(process.outputTail)")
                }
                return await ReadinessProbe.probe(readiness.condition, directory: fixture.directory)
            }
        }
        return pid
    }

    private func start(
        _ onHost: any RemoteFixture, _ fixture: Fixture, on host: RemoteHost, context: FaultContext
    ) async throws -> Int32 {
        let plan = try onHost.plan(context)
        let started = StartedPID()
        let arming = Arming(
            fault: "fixture \(fixture.name)", plugin: FixtureProcess.plugin, plan: plan, sequence: context.sequence,
            prepare: { try onHost.prepare(plan, context) }
        ) {
            let pid = try onHost.start(plan, context)
            started.pid.withLock { $0 = pid }
            return nil
        }
        try await Blocking.perform { _ = try self.hostScope.armAndAct(arming, lifetime: self.lifetime) }
        onHosts.withLock { $0.append(StartedOnHost(fixture: onHost, plan: plan, context: context)) }
        if let readiness = fixture.readiness {
            try await waitUntilReady(
                fixture, readiness, output: "; its output is in its log in the host's journal (ebb rollback list there)"
            ) {
                await Blocking.perform { onHost.probe(readiness.condition, context) }
            }
        }
        return started.pid.withLock { $0 }
    }

    private func waitUntilReady(
        _ fixture: Fixture, _ readiness: Readiness, output: @autoclosure () -> String,
        probe: () async -> ReadinessAnswer
    ) async throws {
        let clock = ContinuousClock()
        let end = clock.now + readiness.timeout
        var lastProblem = "not ready"
        while clock.now < end {
            try Task.checkCancellation()
            switch await probe() {
            case .ready: return
            case .exited(let detail): throw SetupFailure(description: "fixture \(fixture.name) \(detail)")
            case .notReady(let problem): lastProblem = problem
            }
            // A retry cadence, not a wait for time to pass: the probe itself is the condition.
            try await Task.sleep(for: .milliseconds(100))
        }
        throw SetupFailure(
            description:
                "fixture \(fixture.name) was not ready within \(DurationText.format(readiness.timeout)) (\(lastProblem))\(output())"
        )
    }

    /// Moves every fixture's deadline to `lifetime` from now: in this journal, and on the hosts.
    func renew() async {
        scope.renewDeadlines(lifetime: lifetime)
        hostScope.renewDeadlines(lifetime: lifetime)
        for var started in onHosts.withLock({ $0 }) {
            started.context.deadline = Date().addingTimeInterval(lifetime.seconds)
            do {
                try await Blocking.perform { [started] in
                    try started.fixture.holdStarting(started.plan, started.context)
                }
            } catch {
                logger.warning(
                    "could not renew \(started.plan.target): \(error); its host's guardian stops it at its last deadline"
                )
            }
        }
    }
}

/// The pid a fixture got on its host, learnt on the thread that started it.
private final class StartedPID: Sendable {
    let pid = Mutex<Int32>(0)
}

/// A fixture that failed to start or to become ready.
public struct SetupFailure: Error, CustomStringConvertible {
    public var description: String
}
