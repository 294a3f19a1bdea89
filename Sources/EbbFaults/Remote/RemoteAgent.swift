import EbbCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The host's side of a remote fault: `ebb remote agent`, started by the runner over ssh.
///
/// It is a small runner of its own: it keeps the host's journal of the run (each fault's
/// record is durable here too before the fault acts) and starts a guardian on the host that
/// watches it. When the runner or the link goes, the faults still end: if the session ends
/// (the runner died, ssh was killed), the agent exits and the guardian reverts at once; if the
/// link is cut and nothing ends, the guardian reverts each fault at its deadline.
public struct RemoteAgent {
    public var stateDirectory: URL
    public var runID: String
    public var catalog: PluginCatalog
    public var logger: Logger
    /// Starts the guardian of the host's journal as the journal is created.
    public var guardian: GuardianLauncher

    public init(
        stateDirectory: URL, runID: String, catalog: PluginCatalog, logger: Logger, guardian: GuardianLauncher
    ) {
        self.stateDirectory = stateDirectory
        self.runID = runID
        self.catalog = catalog
        self.logger = logger
        self.guardian = guardian
    }

    /// Serves requests from stdin until `close` or end-of-file; returns the exit status. It
    /// exits without closing the journal while a fault is live, so the guardian takes it back.
    public func serve() -> Int32 {
        let journal: RunJournal
        do {
            if try JournalReader(stateDirectory: stateDirectory).run(id: runID, probingLiveness: false) != nil {
                throw FaultError(description: "run \(runID) already has a journal on this host; one agent per run")
            }
            journal = try RunJournal.create(
                stateDirectory: stateDirectory, suites: [], runID: runID, guardian: guardian)
            InFlightTools.markCommands(actingFor: runID)
        } catch {
            reply(AgentReply(ok: false, error: "cannot start on this host: \(error)"))
            return 1
        }
        reply(AgentReply(ok: true, runID: runID, pid: getpid()))
        var session = AgentSession(stateDirectory: stateDirectory, journal: journal, catalog: catalog, logger: logger)
        var input = LineReader(descriptor: 0)
        while let line = input.next() {
            guard let request = try? JSONDecoder().decode(AgentRequest.self, from: Data(line)) else {
                reply(
                    AgentReply(ok: false, error: "not a request: \(Excerpt.of(String(decoding: line, as: UTF8.self)))"))
                continue
            }
            if request.operation == .close { break }
            reply(session.handle(request))
        }
        // End-of-file or close: the journal is closed only when nothing it holds is live.
        let run = JournalReader(holding: journal.directory).run(at: journal.directory, probingLiveness: false)
        guard !run.records.contains(where: \.state.isPending) else {
            logger.warning("the runner's session ended with faults live on this host; the guardian reverts them")
            return 3
        }
        do {
            try journal.close()
            reply(AgentReply(ok: true))
            return 0
        } catch {
            reply(AgentReply(ok: false, error: "cannot close the journal: \(error)"))
            return 1
        }
    }

    private func reply(_ reply: AgentReply) {
        guard var line = try? JSONEncoder().encode(reply) else { return }
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// The faults one agent injected, by sequence, so that a renewal reaches the fault itself
/// (a mark on its target moves with its deadline).
private struct AgentSession {
    let stateDirectory: URL
    let journal: RunJournal
    let catalog: PluginCatalog
    let logger: Logger
    /// What this agent's faults keep alive here, for their faults and undos alike.
    let services = LiveServices()
    var scopes: [String: RollbackScope] = [:]
    var live: [Int: (fault: any Fault, plan: FaultPlan, context: FaultContext, scope: RollbackScope)] = [:]

    init(stateDirectory: URL, journal: RunJournal, catalog: PluginCatalog, logger: Logger) {
        self.stateDirectory = stateDirectory
        self.journal = journal
        self.catalog = catalog
        self.logger = logger
    }

    mutating func handle(_ request: AgentRequest) -> AgentReply {
        do {
            switch request.operation {
            case .inject: return try inject(request)
            case .renew: return try renew(request)
            case .undo, .verify: return try takeBack(request)
            case .probe: return try probe(request)
            case .close: return AgentReply(ok: true)
            }
        } catch {
            return AgentReply(ok: false, error: "\(error)")
        }
    }

    private mutating func inject(_ request: AgentRequest) throws -> AgentReply {
        guard let sequence = request.sequence, let pluginID = request.plugin, let lifetime = request.lifetime,
            let scenario = request.scenario, let name = request.fault
        else {
            throw FaultError(description: "an inject request needs sequence, plugin, lifetime, scenario and fault")
        }
        let suite = SuiteContext(
            directory: URL(fileURLWithPath: request.suiteDirectory ?? "/"), allowedRoots: request.allowedRoots ?? [],
            fixtureNames: [])
        let fault = try self.fault(pluginID, request, named: name, suite: suite)
        let context = FaultContext(
            runID: journal.runID, runDirectory: journal.directory, sequence: sequence, scenario: scenario,
            suite: suite, fixturePIDs: [:], logger: logger, deadline: Date().addingTimeInterval(lifetime),
            services: services)
        let plan = try fault.plan(context)
        let scope =
            scopes[scenario]
            ?? RollbackScope(
                journal: journal, scenario: scenario,
                executor: RollbackExecutor(catalog: catalog, actor: "remote agent", logger: logger, services: services))
        scopes[scenario] = scope
        let store = RecordStore(journal: journal)
        let arming = Arming(
            fault: name, plugin: pluginID, plan: plan, sequence: sequence, prepare: { try fault.prepare(plan, context) }
        ) {
            // Under the record's lock: an undo that found no record wrote a tombstone, and
            // then this fault must never act (see RemoteRecords.undo).
            if RemoteRecords.tombstone(sequence, in: store) != nil {
                throw FaultError(description: "the runner took this fault back before it could act")
            }
            // A fixture's record learns its pid, as on the runner's machine.
            if let fixture = fault as? FixtureProcess { return try JSONValue(encoding: fixture.start(plan)) }
            try fault.inject(plan, context)
            return nil
        }
        let record = try scope.armAndAct(arming, lifetime: .seconds(lifetime))
        live[sequence] = (fault, plan, context, scope)
        return AgentReply(ok: true, target: plan.target, pid: (try? record.data.decode(FixtureStop.Payload.self))?.pid)
    }

    /// A plugin of the catalog, or a fixture of the suite's `setup:` (its output kept in this journal).
    private func fault(
        _ pluginID: String, _ request: AgentRequest, named name: String, suite: SuiteContext
    ) throws -> any Fault {
        if pluginID == FixtureProcess.plugin {
            var fixture = try (request.parameters ?? .object([:])).decode(FixtureProcess.self)
            fixture.logPath = journal.directory.appending(path: "logs/fixture-\(fixture.name).log").path
            return fixture
        }
        guard let plugin = catalog.plugins[pluginID] else {
            throw FaultError(description: "this ebb has no plugin '\(pluginID)'")
        }
        let parameters = try FaultParameters(
            json: request.parameters ?? .object([:]), specs: plugin.parameters, keyPath: name)
        return try plugin.make(parameters, suite: suite)
    }

    /// Probes a fixture's readiness here, where its addresses and paths are the suite's.
    private func probe(_ request: AgentRequest) throws -> AgentReply {
        guard let sequence = request.sequence, let condition = request.readiness else {
            throw FaultError(description: "a probe request needs sequence and readiness")
        }
        guard let entry = live[sequence], let fixture = entry.fault as? FixtureProcess else {
            throw FaultError(description: "no fixture \(sequence) runs on this host")
        }
        guard FixtureStop.isRunning(try entry.plan.undoData.decode(FixtureStop.Payload.self)) else {
            return AgentReply(
                ok: true,
                readiness: .exited("exited before it was ready; its output on this host:\n\(fixture.outputTail)"))
        }
        return AgentReply(
            ok: true,
            readiness: AwaitOnThisThread.value { await ReadinessProbe.probe(condition, directory: fixture.directory) })
    }

    /// The same work as `ebb remote undo` / `ebb remote verify`, without a process and an ssh
    /// session per record: the runner's rollback asks the agent it already talks to.
    private mutating func takeBack(_ request: AgentRequest) throws -> AgentReply {
        guard let sequence = request.sequence, let action = request.operation.recordAction else {
            throw FaultError(description: "an undo or verify request needs a sequence")
        }
        let outcome = RemoteRecords.perform(
            action, stateDirectory: stateDirectory, runID: journal.runID, sequence: sequence, catalog: catalog,
            logger: logger)
        if outcome.state != .failed { live[sequence] = nil }
        return AgentReply(ok: true, outcome: outcome)
    }

    private mutating func renew(_ request: AgentRequest) throws -> AgentReply {
        guard let sequence = request.sequence, let lifetime = request.lifetime else {
            throw FaultError(description: "a renew request needs sequence and lifetime")
        }
        guard var entry = live[sequence] else {
            throw FaultError(description: "no fault \(sequence) is live on this host")
        }
        entry.context.deadline = Date().addingTimeInterval(lifetime)
        entry.scope.renewDeadlines(lifetime: .seconds(lifetime))
        try entry.fault.holdStarting(entry.plan, entry.context)
        live[sequence] = entry
        return AgentReply(ok: true)
    }
}

/// Lines from a descriptor, read as they come.
private struct LineReader {
    let descriptor: Int32
    var buffer: [UInt8] = []

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}

/// Waits for async work from synchronous code that runs on a thread of its own (the agent's
/// main thread, never one of the concurrency pool's, which the work itself needs).
private enum AwaitOnThisThread {
    static func value<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }!
    }
}
