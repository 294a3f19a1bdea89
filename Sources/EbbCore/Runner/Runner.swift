import Foundation
import Logging
import Synchronization

/// Runs suites: fixtures up, then for each scenario plan, arm, inject, hold and roll back,
/// and fixtures down; every exit path (errors, cancellation, signals) rolls back. A scenario's
/// faults are planned, prepared and injected up to ``Options/forks`` at once, all armed before
/// the first acts.
public final class Runner: Sendable {
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
        /// How many faults of a scenario are planned, prepared and injected at once, and how many
        /// independent undos run at once (`ebb run --forks`); 1 does everything in file order.
        public var forks: Int
        /// What the suites' proxies and remote hosts keep alive in this process: the same
        /// directory the proxies' reader was given, so faults and undos reach them.
        public var services: LiveServices

        public init(
            stateDirectory: URL, reportDirectory: URL, scenarioNames: [String] = [],
            rollbackGrace: Duration = .seconds(30),
            rollbackBudget: Duration = RollbackExecutor.defaultBudget, registry: HostRegistry? = nil,
            forks: Int = Forks.defaultLimit, services: LiveServices = LiveServices()
        ) {
            self.services = services
            self.stateDirectory = stateDirectory
            self.reportDirectory = reportDirectory
            self.scenarioNames = scenarioNames
            self.rollbackGrace = rollbackGrace
            self.rollbackBudget = rollbackBudget
            self.registry = registry
            self.forks = max(1, forks)
        }
    }

    public let suites: [Suite]
    public let catalog: PluginCatalog
    public let options: Options
    private let logger: Logger
    private let observe: @Sendable (RunEvent) -> Void
    /// The first signal received, and whether a rollback is running: signals arrive on the
    /// trap's queue while the run goes on elsewhere.
    private let interruption = Mutex<(signal: Int32?, rollingBack: Bool)>((nil, false))

    public init(
        suites: [Suite], catalog: PluginCatalog, options: Options, logger: Logger,
        observe: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) {
        self.suites = suites
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.observe = observe
    }

    /// Notes that `signal` arrived. The caller cancels the run's task; the first signal wins and
    /// later ones never stop a rollback (they are only reported).
    public func noteSignal(_ signal: Int32) {
        let (first, duringRollback) = interruption.withLock { state -> (Bool, Bool) in
            let first = state.signal == nil
            if first { state.signal = signal }
            return (first, state.rollingBack)
        }
        observe(.signal(signal, duringRollback: duringRollback || !first))
    }

    private var signal: Int32? { interruption.withLock { $0.signal } }

    /// Starts preparing the suites' checks (see ``CheckPlan/prepare()``) on threads of their
    /// own, so that the first check does not wait for its client to be made.
    public func prepareChecks() {
        for suite in suites {
            guard let checks = suite.checks else { continue }
            Blocking.detach { checks.prepare() }
        }
    }

    /// Creates the run's journal, starting its `guardian` with it; fails when the state directory
    /// cannot be used, or with ``GuardianLauncher/Failure`` when the guardian cannot start.
    public func openJournal(guardian: GuardianLauncher? = nil) throws -> RunJournal {
        let journal = try RunJournal.create(
            stateDirectory: options.stateDirectory, suites: suites.map(\.path), registry: options.registry,
            guardian: guardian)
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
            result.journalAtClose = try journal.close(outcomesDurable: result.outcomesDurable)
        } catch {
            logger.error("could not close the journal: \(error)")
        }
        observe(.runFinished(result))
        return result
    }

    private func run(_ suite: Suite, journal: RunJournal, into result: inout RunResult) async {
        let selected = suite.scenarios.filter {
            options.scenarioNames.isEmpty || options.scenarioNames.contains($0.name)
        }
        guard !selected.isEmpty else { return }
        let setup = RollbackScope(journal: journal, scenario: RollbackExecutor.setupScenario, executor: executor)
        let logs = options.reportDirectory.appending(path: "logs")
        // Fixtures live for the whole suite: their deadline is renewed while the runner works
        // (see renewing(_:lifetime:)), so only a runner that stopped making progress loses them.
        let longest = selected.reduce(Duration.zero) { $0 + $1.waitBefore + $1.duration + $1.waitAfter }
        let setupLifetime = longest + options.rollbackGrace
        let setupOnHosts = RollbackScope(journal: journal, scenario: RollbackExecutor.setupScenario, executor: executor)
        let supervisor = FixtureSupervisor(
            scope: setup, hostScope: setupOnHosts, logDirectory: logs, lifetime: setupLifetime,
            suite: suite, logger: logger, services: options.services)
        let heartbeat = renewing(supervisor)
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
                observe(.fixtureReady(name: fixture.name, pid: pid, host: fixture.host?.name))
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
                skipped.steps.append(
                    StepResult(
                        kind: .preflight, name: "preflight",
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
        heartbeat.cancel()
        // Fixtures on hosts first, through the agents still connected (the runner's own
        // fixtures may be what makes the hosts reachable); then every remote fault is taken
        // back, and the hosts' agents close their journals.
        var rollbacks = await rollBack(setupOnHosts, label: "setup on hosts")
        await Blocking.perform { suite.remote?.endRun(journal.runID) }
        rollbacks += await rollBack(setup, label: "setup")
        result.setupSteps += rollbacks.map { StepResult(rollback: $0, name: $0.record.fault) }
        result.setupRollbacks += rollbacks
    }

    /// Runs one scenario and times it.
    private func run(
        _ scenario: Scenario, of suite: Suite, journal: RunJournal, fixturePIDs: [String: Int32]
    ) async -> ScenarioResult {
        let clock = ContinuousClock()
        let start = clock.now
        observe(
            .scenarioStarted(
                suite: suite.name, name: scenario.name, faults: scenario.faults.count, duration: scenario.duration))
        let steps = ScenarioSteps(ScenarioResult(suite: suite.name, name: scenario.name, startedAt: Date())) {
            [observe] step in
            observe(.step(scenario: scenario.name, step))
        }
        await runPhases(of: scenario, in: suite, journal: journal, fixturePIDs: fixturePIDs, steps)
        steps.result.duration = clock.now - start
        return steps.result
    }

    /// A scenario in its phases: wait, preflight beside the steady state, arm and inject, hold,
    /// rollback, verdicts, wait. The phases before the injection return whether the scenario goes on.
    private func runPhases(
        of scenario: Scenario, in suite: Suite, journal: RunJournal, fixturePIDs: [String: Int32],
        _ steps: ScenarioSteps
    ) async {
        // A fault may stay in place for its hold plus the grace, counted from its injection.
        let lifetime = scenario.duration + options.rollbackGrace
        guard await waitBefore(scenario, steps) else { return }
        let watch = suite.checks?.watch(scenario: scenario.name, selected: scenario.checks, logger: logger)
        // Preflight and the `before` samples only look, so they run side by side; the samples
        // count only once every fault is planned (a failed preflight cancels them).
        async let samples = watch?.steadyState() ?? []
        guard
            let planned = await preflight(
                scenario, of: suite, journal: journal, fixturePIDs: fixturePIDs, lifetime: lifetime, steps)
        else { return }
        let hold = Hold()
        guard await steadyState(watch, samples: await samples, scenario, hold: hold, steps) else { return }

        let scope = RollbackScope(journal: journal, scenario: scenario.name, executor: executor)
        // Held from before arming until the scenario is rolled back: no other run faults these targets meanwhile.
        let locks = TargetLocks(stateDirectory: options.stateDirectory, runID: journal.runID)
        let injectedAll = await armAndInject(planned, scope: scope, locks: locks, lifetime: lifetime, steps)
        if injectedAll && !Task.isCancelled {
            await holdFaults(planned, scenario, hold: hold, lifetime: lifetime, steps)
        } else if Task.isCancelled {
            steps.result.interrupted = true
        }
        let rollbacks = await rollBack(scope, label: scenario.name)
        locks.release(sequences: planned.map(\.context.sequence))
        steps.result.rollbacks = rollbacks
        for rollback in rollbacks {
            steps.record(StepResult(rollback: rollback, name: "rollback: \(rollback.record.fault)"))
            if let cutShort = Self.deadlineStep(rollback) { steps.record(cutShort) }
        }
        if let watch {
            await watch.faultsRolledBack(interrupted: steps.result.interrupted || Task.isCancelled).forEach(
                steps.record)
            if Task.isCancelled { steps.result.interrupted = true }
        }
        await waitAfter(scenario, steps)
    }

    /// One fault of a scenario, planned.
    private struct PlannedFault: Sendable {
        var spec: FaultSpec
        var plan: FaultPlan
        var context: FaultContext
    }

    private func waitBefore(_ scenario: Scenario, _ steps: ScenarioSteps) async -> Bool {
        do {
            try await Task.sleep(for: scenario.waitBefore)
            return true
        } catch {
            steps.result.interrupted = true
            steps.record(
                StepResult(
                    kind: .preflight, name: "preflight", status: .skipped,
                    message: "the run was interrupted before injection"))
            return false
        }
    }

    /// Preflight: every fault resolves its targets before any is injected, up to `forks` at
    /// once; nil (and nothing injected) when one cannot be planned.
    private func preflight(
        _ scenario: Scenario, of suite: Suite, journal: RunJournal, fixturePIDs: [String: Int32],
        lifetime: Duration, _ steps: ScenarioSteps
    ) async -> [PlannedFault]? {
        let clock = ContinuousClock()
        let start = clock.now
        let contexts = scenario.faults.map { _ in
            FaultContext(
                runID: journal.runID, runDirectory: journal.directory, sequence: journal.reserveSequence(),
                scenario: scenario.name, suite: suite.context, fixturePIDs: fixturePIDs, logger: logger,
                deadline: Date().addingTimeInterval(lifetime.seconds), services: options.services)
        }
        let faults = scenario.faults
        let forks = options.forks
        let outcomes = await Blocking.perform {
            Forks.map(faults.count, limit: forks) { index in
                Result {
                    PlannedFault(
                        spec: faults[index], plan: try faults[index].fault.plan(contexts[index]),
                        context: contexts[index])
                }
            }
        }
        let problems = zip(faults, outcomes).compactMap { spec, outcome -> String? in
            guard case .failure(let error) = outcome else { return nil }
            return "\(spec.name): \(error)"
        }
        guard problems.isEmpty else {
            steps.record(
                StepResult(
                    kind: .preflight, name: "preflight", status: .error,
                    message: "not injected: " + problems.joined(separator: "; "), duration: clock.now - start))
            steps.skipInjections(faults, because: "preflight failed")
            return nil
        }
        let planned = outcomes.map { try! $0.get() }
        steps.record(
            StepResult(
                kind: .preflight, name: "preflight", status: .passed,
                message: planned.map { "\($0.spec.name) -> \($0.plan.target)" }.joined(separator: "; "),
                duration: clock.now - start))
        return planned
    }

    /// Steady state: the checks' `before` samples (`samples`, taken by `watch`) must hold, and
    /// the run must not be interrupted, for anything to be injected.
    private func steadyState(
        _ watch: (any ScenarioWatch)?, samples steady: [StepResult], _ scenario: Scenario, hold: Hold,
        _ steps: ScenarioSteps
    ) async -> Bool {
        guard let watch else { return true }
        steady.forEach(steps.record)
        if steady.contains(where: { $0.status != .passed }) || Task.isCancelled {
            steps.result.interrupted = Task.isCancelled
            steps.skipInjections(
                scenario.faults,
                because: Task.isCancelled ? "the run was interrupted" : "not injected: the steady state did not hold")
            return false
        }
        await watch.faultsStarting { reason in hold.breach(reason) }
        return true
    }

    /// Arm and inject every fault of the scenario (``RollbackScope/armThenAct(_:lifetime:forks:proceed:)``):
    /// all records are durable before the first fault acts. Steps are recorded in fault order.
    /// Returns whether every fault was injected.
    private func armAndInject(
        _ planned: [PlannedFault], scope: RollbackScope, locks: TargetLocks, lifetime: Duration,
        _ steps: ScenarioSteps
    ) async -> Bool {
        guard !Task.isCancelled else {
            for fault in planned {
                steps.record(
                    StepResult(
                        kind: .inject, name: "inject: \(fault.spec.name)", status: .skipped,
                        message: "the run was interrupted", properties: Self.properties(of: fault)))
            }
            return false
        }
        let clock = ContinuousClock()
        let timings = ActTimings(count: planned.count)
        let armings = planned.enumerated().map { index, fault in
            Arming(
                fault: fault.spec.name, plugin: fault.spec.pluginID, plan: fault.plan, sequence: fault.context.sequence,
                prepare: {
                    try locks.acquire(fault.plan.lockKeys, target: fault.plan.target, sequence: fault.context.sequence)
                    try fault.spec.fault.prepare(fault.plan, fault.context)
                },
                act: {
                    let start = clock.now
                    defer { timings.set(index, clock.now - start) }
                    // A fault that ends itself (a hog, the delayer, a toxic) counts from now, as its record does.
                    var injecting = fault.context
                    injecting.deadline = Date().addingTimeInterval(lifetime.seconds)
                    try fault.spec.fault.inject(fault.plan, injecting)
                    return nil
                })
        }
        let forks = options.forks
        let outcomes = await Blocking.perform {
            scope.armThenAct(armings, lifetime: lifetime, forks: forks) { self.signal == nil }
        }
        for (index, (fault, outcome)) in zip(planned, outcomes).enumerated() {
            var properties = Self.properties(of: fault)
            let name = "inject: \(fault.spec.name)"
            switch outcome {
            case .success(let record):
                properties["record"] = scope.journal.directory.appending(path: record.fileName).path
                steps.record(
                    StepResult(
                        kind: .inject, name: name, status: .passed, message: fault.plan.target,
                        duration: timings[index], properties: properties))
            case .failure(let failure) where failure.stage == .notStarted:
                steps.record(
                    StepResult(
                        kind: .inject, name: name, status: .skipped, message: "\(failure)", properties: properties))
            case .failure(let failure):
                steps.record(
                    StepResult(
                        kind: .inject, name: name, status: .error, message: "\(failure)",
                        duration: timings[index], properties: properties))
            }
        }
        return outcomes.allSatisfy { (try? $0.get()) != nil }
    }

    private static func properties(of fault: PlannedFault) -> [String: String] {
        [
            "target": fault.plan.target, "undo": fault.plan.undoSummary, "plugin": fault.spec.pluginID,
            "parameters": fault.spec.parameters.description,
        ]
    }

    /// The hold: each fault moves the expiry it wrote on its target to the end of the hold (the
    /// records' deadlines were set when the last fault was injected), then the runner waits.
    private func holdFaults(
        _ planned: [PlannedFault], _ scenario: Scenario, hold: Hold, lifetime: Duration, _ steps: ScenarioSteps
    ) async {
        let forks = options.forks
        await Blocking.perform {
            // Expiries written on the targets move too: a sweep must not revert before the record's deadline.
            _ = Forks.map(planned.count, limit: forks) { index in
                let fault = planned[index]
                var holding = fault.context
                holding.deadline = Date().addingTimeInterval(lifetime.seconds)
                do { try fault.spec.fault.holdStarting(fault.plan, holding) } catch {
                    self.logger.warning(
                        "\(fault.spec.name): could not move its expiry on the target to the end of the hold: \(error)")
                }
            }
        }
        observe(.holding(scenario: scenario.name, duration: scenario.duration))
        switch await hold.wait(scenario.duration) {
        case .elapsed: break
        case .cancelled: steps.result.interrupted = true
        case .breached(let reason): observe(.holdEnded(scenario: scenario.name, reason: reason))
        }
    }

    private func waitAfter(_ scenario: Scenario, _ steps: ScenarioSteps) async {
        guard !steps.result.interrupted else { return }
        do {
            try await Task.sleep(for: scenario.waitAfter)
        } catch {
            steps.result.interrupted = true
        }
    }

    /// Rolls `scope` back outside the run's task, so cancellation (a signal) cannot cut it short.
    private func rollBack(_ scope: RollbackScope, label: String) async -> [RollbackResult] {
        let count = scope.records.count
        guard count > 0 else { return [] }
        interruption.withLock { $0.rollingBack = true }
        observe(.rollingBack(scenario: label, faults: count))
        // On a thread of its own: a signal cannot cancel it, and it blocks no health check.
        let results = await Blocking.perform { scope.rollback() }
        interruption.withLock { $0.rollingBack = false }
        return results
    }

    private var executor: RollbackExecutor {
        RollbackExecutor(
            catalog: catalog, actor: "runner", budget: options.rollbackBudget, forks: options.forks, logger: logger,
            services: options.services)
    }

    /// Renews the fixtures' deadlines while the runner lives and makes progress: a fixture must
    /// outlast long check phases, yet not outlive a runner that is stopped.
    private func renewing(_ supervisor: FixtureSupervisor) -> Task<Void, Never> {
        let period = max(Duration.milliseconds(100), min(options.rollbackGrace / 3, .seconds(5)))
        return Task.detached {
            while !Task.isCancelled {
                await supervisor.renew()
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
        let when =
            record.finishedAt.map { UTCTime.string($0) } ?? "?"
        return StepResult(
            kind: .check, name: "deadline: \(record.fault)", status: .failed,
            message:
                "the guardian reverted \(record.fault) at \(when), when its deadline passed while the runner was still alive; "
                + "the hold was cut short, so this scenario's results do not cover the planned fault. "
                + "Raise --deadline-grace if the runner is slow, or find what stalled it.",
            startedAt: record.finishedAt ?? Date(),
            properties: [
                "state": record.state.rawValue, "revertedBy": Guardian.deadlineActor, "record": record.fileName,
            ])
    }
}

/// The steps of one scenario as its phases record them, each reported as it happens.
private final class ScenarioSteps: @unchecked Sendable {
    var result: ScenarioResult
    private let report: (StepResult) -> Void

    init(_ result: ScenarioResult, report: @escaping (StepResult) -> Void) {
        self.result = result
        self.report = report
    }

    func record(_ step: StepResult) {
        result.steps.append(step)
        report(step)
    }

    /// A skipped `inject:` step for each fault.
    func skipInjections(_ faults: [FaultSpec], because reason: String) {
        for spec in faults {
            record(StepResult(kind: .inject, name: "inject: \(spec.name)", status: .skipped, message: reason))
        }
    }
}

/// How long each fault's injection took, written from the threads that inject.
private final class ActTimings: Sendable {
    private let durations: Mutex<[Duration]>

    init(count: Int) { durations = Mutex(Array(repeating: .zero, count: count)) }

    func set(_ index: Int, _ duration: Duration) { durations.withLock { $0[index] = duration } }

    subscript(index: Int) -> Duration { durations.withLock { $0[index] } }
}
