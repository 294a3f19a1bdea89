import Foundation
import Logging

/// Runs suites: fixtures up, then for each scenario plan, arm, inject, hold and roll back,
/// and fixtures down; every exit path (errors, cancellation, signals) rolls back.
public final class Runner: @unchecked Sendable {
    public struct Options: Sendable {
        public var stateDirectory: URL
        public var reportDirectory: URL
        /// Run only these scenarios (all when empty).
        public var scenarioNames: [String]
        /// Added to a fault's hold time to form the deadline in its record.
        public var rollbackGrace: Duration
        /// The time budget of each rollback (see ``RollbackExecutor/budget``).
        public var rollbackBudget: Duration
        /// Where records are copied for `ebb rollback sweep`; nil for none.
        public var registry: HostRegistry?

        public init(stateDirectory: URL, reportDirectory: URL, scenarioNames: [String] = [], rollbackGrace: Duration = .seconds(30),
                    rollbackBudget: Duration = RollbackExecutor.defaultBudget, registry: HostRegistry? = nil) {
            self.stateDirectory = stateDirectory
            self.reportDirectory = reportDirectory
            self.scenarioNames = scenarioNames
            self.rollbackGrace = rollbackGrace
            self.rollbackBudget = rollbackBudget
            self.registry = registry
        }
    }

    public let suites: [Suite]
    public let catalog: PluginCatalog
    public let options: Options
    private let logger: Logger
    private let observe: @Sendable (RunEvent) -> Void
    private let mutex = NSLock()
    private var receivedSignal: Int32?
    private var rollingBack = false

    public init(suites: [Suite], catalog: PluginCatalog, options: Options, logger: Logger,
                observe: @escaping @Sendable (RunEvent) -> Void = { _ in }) {
        self.suites = suites
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.observe = observe
    }

    /// Notes that `signal` arrived. The caller cancels the run's task; the first signal wins and
    /// later ones never stop a rollback (they are only reported).
    public func noteSignal(_ signal: Int32) {
        let (first, duringRollback) = mutex.withLock { () -> (Bool, Bool) in
            let first = receivedSignal == nil
            if first { receivedSignal = signal }
            return (first, rollingBack)
        }
        observe(.signal(signal, duringRollback: duringRollback || !first))
    }

    private var signal: Int32? { mutex.withLock { receivedSignal } }

    /// Creates the run's journal; fails when the state directory cannot be used.
    public func openJournal() throws -> RunJournal {
        let journal = try RunJournal.create(stateDirectory: options.stateDirectory, suites: suites.map(\.path), registry: options.registry)
        InFlightTools.markCommands(actingFor: journal.runID)
        return journal
    }

    /// Runs every selected scenario of every suite, recording into `journal`, and closes it.
    public func run(journal: RunJournal) async -> RunResult {
        let clock = ContinuousClock()
        let start = clock.now
        var result = RunResult(runID: journal.runID, journalDirectory: journal.directory, startedAt: Date())
        observe(.runStarted(runID: journal.runID, journal: journal.directory))
        for suite in suites {
            await run(suite, journal: journal, into: &result)
        }
        result.signal = signal
        result.duration = clock.now - start
        do {
            try journal.close()
        } catch {
            logger.error("could not close the journal: \(error)")
        }
        observe(.runFinished(result))
        return result
    }

    private func run(_ suite: Suite, journal: RunJournal, into result: inout RunResult) async {
        let selected = suite.scenarios.filter { options.scenarioNames.isEmpty || options.scenarioNames.contains($0.name) }
        guard !selected.isEmpty else { return }
        let setup = RollbackScope(journal: journal, scenario: "setup", executor: executor)
        let logs = options.reportDirectory.appendingPathComponent("logs")
        // Fixtures live for the whole suite: their deadline is renewed while the runner works
        // (see renewing(_:lifetime:)), so only a runner that stopped making progress loses them.
        let longest = selected.reduce(Duration.zero) { $0 + $1.waitBefore + $1.duration + $1.waitAfter }
        let setupLifetime = longest + options.rollbackGrace
        let supervisor = FixtureSupervisor(scope: setup, logDirectory: logs, lifetime: setupLifetime)
        let heartbeat = renewing(setup, lifetime: setupLifetime)
        defer { heartbeat.cancel() }
        var fixturePIDs: [String: Int32] = [:]
        var setupProblem: String?
        // Proxies first: a fixture may be the client that connects through one as it starts.
        for proxy in suite.proxies where setupProblem == nil {
            let sequence = journal.reserveSequence()
            do {
                try await Blocking.perform { try supervisor.start(proxy, sequence: sequence, logger: self.logger) }
            } catch {
                setupProblem = "setup failed: \(error)"
            }
        }
        for fixture in suite.fixtures where setupProblem == nil {
            do {
                let pid = try await supervisor.start(fixture, sequence: journal.reserveSequence())
                fixturePIDs[fixture.name] = pid
                observe(.fixtureReady(name: fixture.name, pid: pid))
            } catch is CancellationError {
                setupProblem = "the run was interrupted while fixture \(fixture.name) was starting"
            } catch {
                setupProblem = "setup failed: \(error)"
            }
        }
        for scenario in selected {
            if let problem = setupProblem ?? (Task.isCancelled ? "not run: the run was interrupted" : nil) {
                var skipped = ScenarioResult(suite: suite.name, name: scenario.name, startedAt: Date())
                skipped.interrupted = signal != nil
                skipped.steps.append(StepResult(kind: .preflight, name: "preflight",
                                                status: signal != nil ? .skipped : .error, message: problem))
                result.scenarios.append(skipped)
                observe(.scenarioFinished(skipped))
                continue
            }
            let outcome = await run(scenario, of: suite, journal: journal, fixturePIDs: fixturePIDs)
            result.scenarios.append(outcome)
            observe(.scenarioFinished(outcome))
        }
        await suite.checks?.shutdown()
        // Every remote fault is taken back by now: the hosts' agents close their journals.
        await Blocking.perform { suite.remote?.endRun(journal.runID) }
        heartbeat.cancel()
        let rollbacks = await rollBack(setup, label: "setup")
        result.setupSteps += rollbacks.map { rollbackStep($0, name: $0.record.fault) }
        result.setupRollbacks += rollbacks
    }

    private func run(_ scenario: Scenario, of suite: Suite, journal: RunJournal, fixturePIDs: [String: Int32]) async -> ScenarioResult {
        let clock = ContinuousClock()
        let start = clock.now
        var result = await steps(of: scenario, in: suite, journal: journal, fixturePIDs: fixturePIDs)
        result.duration = clock.now - start
        return result
    }

    private func steps(of scenario: Scenario, in suite: Suite, journal: RunJournal, fixturePIDs: [String: Int32]) async -> ScenarioResult {
        let clock = ContinuousClock()
        var result = ScenarioResult(suite: suite.name, name: scenario.name, startedAt: Date())
        observe(.scenarioStarted(suite: suite.name, name: scenario.name, faults: scenario.faults.count, duration: scenario.duration))
        let context = suite.context

        func record(_ step: StepResult) {
            result.steps.append(step)
            observe(.step(scenario: scenario.name, step))
        }

        do {
            try await Task.sleep(for: scenario.waitBefore)
        } catch {
            result.interrupted = true
            record(StepResult(kind: .preflight, name: "preflight", status: .skipped, message: "the run was interrupted before injection"))
            return result
        }

        // Preflight: every fault resolves its targets before any is injected.
        let preflightStart = clock.now
        // A fault may stay in place for its hold plus the grace, counted from its injection.
        let lifetime = scenario.duration + options.rollbackGrace
        var plans: [(FaultSpec, FaultPlan, FaultContext)] = []
        var planProblems: [String] = []
        for spec in scenario.faults {
            let faultContext = FaultContext(runID: journal.runID, runDirectory: journal.directory, sequence: journal.reserveSequence(),
                                            scenario: scenario.name, suite: context, fixturePIDs: fixturePIDs, logger: logger,
                                            deadline: Date().addingTimeInterval(lifetime.seconds))
            do {
                plans.append((spec, try spec.fault.plan(faultContext), faultContext))
            } catch {
                planProblems.append("\(spec.name): \(error)")
            }
        }
        guard planProblems.isEmpty else {
            record(StepResult(kind: .preflight, name: "preflight", status: .error,
                              message: "not injected: " + planProblems.joined(separator: "; "), duration: clock.now - preflightStart))
            for spec in scenario.faults {
                record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .skipped, message: "preflight failed"))
            }
            return result
        }
        record(StepResult(kind: .preflight, name: "preflight", status: .passed,
                          message: plans.map { "\($0.0.name) -> \($0.1.target)" }.joined(separator: "; "),
                          duration: clock.now - preflightStart))

        let watch = suite.checks?.watch(scenario: scenario.name, selected: scenario.checks, logger: logger)
        let hold = Hold()
        if let watch {
            let steady = await watch.steadyState()
            steady.forEach(record)
            if steady.contains(where: { $0.status != .passed }) || Task.isCancelled {
                result.interrupted = Task.isCancelled
                let reason = Task.isCancelled ? "the run was interrupted" : "not injected: the steady state did not hold"
                for spec in scenario.faults {
                    record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .skipped, message: reason))
                }
                return result
            }
            await watch.faultsStarting { reason in hold.breach(reason) }
        }

        let scope = RollbackScope(journal: journal, scenario: scenario.name, executor: executor)
        // Held from before arming until the scenario is rolled back: no other run faults these targets meanwhile.
        let locks = TargetLocks(stateDirectory: options.stateDirectory, runID: journal.runID)
        var injectedAll = true
        for (spec, plan, faultContext) in plans {
            guard injectedAll else {
                record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .skipped,
                                  message: "not injected: an earlier fault of the scenario failed", properties: ["target": plan.target]))
                continue
            }
            let stepStart = clock.now
            var properties = ["target": plan.target, "undo": plan.undoSummary, "plugin": spec.pluginID,
                              "parameters": spec.parameters.description]
            guard !Task.isCancelled else {
                record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .skipped, message: "the run was interrupted", properties: properties))
                continue
            }
            do {
                let armed = try await Blocking.perform { () throws -> UndoRecord in
                    try locks.acquire(plan.lockKeys, target: plan.target, sequence: faultContext.sequence)
                    try spec.fault.prepare(plan, faultContext)
                    return try scope.armAndAct(fault: spec.name, plugin: spec.pluginID, plan: plan, sequence: faultContext.sequence,
                                               lifetime: lifetime) {
                        // A fault that ends itself (a hog, the delayer, a toxic) counts from now, as its record does.
                        var injecting = faultContext
                        injecting.deadline = Date().addingTimeInterval(lifetime.seconds)
                        try spec.fault.inject(plan, injecting)
                        return nil
                    }
                }
                properties["record"] = journal.directory.appendingPathComponent(armed.fileName).path
                record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .passed, message: plan.target,
                                  duration: clock.now - stepStart, properties: properties))
            } catch {
                injectedAll = false
                record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .error, message: "\(error)",
                                  duration: clock.now - stepStart, properties: properties))
            }
        }

        if injectedAll && !Task.isCancelled {
            // The deadline counts from the start of the hold: injecting the other faults took time.
            let injected = plans
            await Blocking.perform {
                scope.renewDeadlines(lifetime: lifetime)
                // Expiries written on the targets move too: a sweep must not revert before the record's deadline.
                for (spec, plan, faultContext) in injected {
                    var holding = faultContext
                    holding.deadline = Date().addingTimeInterval(lifetime.seconds)
                    do { try spec.fault.holdStarting(plan, holding) } catch {
                        self.logger.warning("\(spec.name): could not move its expiry on the target to the end of the hold: \(error)")
                    }
                }
            }
            observe(.holding(scenario: scenario.name, duration: scenario.duration))
            switch await hold.wait(scenario.duration) {
            case .elapsed: break
            case .cancelled: result.interrupted = true
            case .breached(let reason): observe(.holdEnded(scenario: scenario.name, reason: reason))
            }
        } else if Task.isCancelled {
            result.interrupted = true
        }

        let rollbacks = await rollBack(scope, label: scenario.name)
        locks.release(sequences: plans.map { $0.2.sequence })
        result.rollbacks = rollbacks
        for rollback in rollbacks {
            record(rollbackStep(rollback, name: "rollback: \(rollback.record.fault)"))
            if let cutShort = Self.deadlineStep(rollback) { record(cutShort) }
        }
        if let watch {
            await watch.faultsRolledBack(interrupted: result.interrupted || Task.isCancelled).forEach(record)
            if Task.isCancelled { result.interrupted = true }
        }
        if !result.interrupted {
            do {
                try await Task.sleep(for: scenario.waitAfter)
            } catch {
                result.interrupted = true
            }
        }
        return result
    }

    /// Rolls `scope` back outside the run's task, so cancellation (a signal) cannot cut it short.
    private func rollBack(_ scope: RollbackScope, label: String) async -> [RollbackResult] {
        let count = scope.records.count
        guard count > 0 else { return [] }
        mutex.withLock { rollingBack = true }
        observe(.rollingBack(scenario: label, faults: count))
        // On a thread of its own: a signal cannot cancel it, and it blocks no health check.
        let results = await Blocking.perform { scope.rollback() }
        mutex.withLock { rollingBack = false }
        return results
    }

    private func rollbackStep(_ rollback: RollbackResult, name: String) -> StepResult {
        let record = rollback.record
        // An outcome the journal could not record is an error, whatever the undo achieved.
        let status: StepResult.Status = rollback.journalProblem == nil ? StepResult.Status(rollbackOf: record.state) : .error
        var message = record.message
        if let problem = rollback.journalProblem { message = [message, problem].compactMap { $0 }.joined(separator: "; ") }
        return StepResult(kind: .rollback, name: name, status: status, message: message, startedAt: record.finishedAt ?? Date(),
                          duration: rollback.duration,
                          properties: ["state": record.state.rawValue, "kind": record.kind, "target": record.target,
                                       "attempts": String(record.attempts), "record": record.fileName])
    }

    private var executor: RollbackExecutor {
        RollbackExecutor(catalog: catalog, actor: "runner", budget: options.rollbackBudget, logger: logger)
    }

    /// Renews the deadlines of `scope`'s records while the runner lives and makes progress: a
    /// fixture must outlast long check phases, yet not outlive a runner that is stopped.
    private func renewing(_ scope: RollbackScope, lifetime: Duration) -> Task<Void, Never> {
        let period = max(Duration.milliseconds(100), min(options.rollbackGrace / 3, .seconds(5)))
        return Task.detached {
            while !Task.isCancelled {
                scope.renewDeadlines(lifetime: lifetime)
                try? await Task.sleep(for: period)
            }
        }
    }

    /// A fault the guardian took back at its deadline while this runner was still alive: the hold
    /// was cut short, so the scenario did not test what it says. Its own failed step, so the run
    /// cannot pass with it.
    static func deadlineStep(_ rollback: RollbackResult) -> StepResult? {
        let record = rollback.record
        guard record.revertedBy == Guardian.deadlineActor else { return nil }
        let when = record.finishedAt.map { $0.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) } ?? "?"
        return StepResult(kind: .check, name: "deadline: \(record.fault)", status: .failed,
                          message: "the guardian reverted \(record.fault) at \(when), when its deadline passed while the runner was still alive; "
                              + "the hold was cut short, so this scenario's results do not cover the planned fault. "
                              + "Raise --deadline-grace if the runner is slow, or find what stalled it.",
                          startedAt: record.finishedAt ?? Date(),
                          properties: ["state": record.state.rawValue, "revertedBy": Guardian.deadlineActor, "record": record.fileName])
    }
}
