import EbbCore
import Foundation
import Logging
import Synchronization

/// Follows one check through a scenario: steady state before, continuous samples while the
/// faults are live, recovery after rollback, one `after` sample, then the SLO verdicts.
final class CheckWatch: Sendable {
    let definition: CheckDefinition
    /// Nil when the probe could not be set up (a missing token); `problem` says why.
    private let probe: (any Probe)?
    private let problem: String?
    private let anchor: ClockAnchor
    private let clock = ContinuousClock()

    private struct State {
        /// Set once by the runner's task; read by sample callbacks on other threads, hence the lock.
        var sampler: Sampler?
        var liveSince: ContinuousClock.Instant?
        var breached = false
    }

    private let state = Mutex(State())
    private var sampler: Sampler? { state.withLock { $0.sampler } }

    init(definition: CheckDefinition, probe: Result<any Probe, any Error>, anchor: ClockAnchor) {
        self.definition = definition
        self.anchor = anchor
        switch probe {
        case .success(let probe): (self.probe, problem) = (probe, nil)
        case .failure(let error): (self.probe, problem) = (nil, "\(error)")
        }
    }

    private var name: String { definition.name }
    private var timeout: Duration {
        switch definition.probe {
        case .http(let spec): return spec.timeout
        case .tcp(let spec): return spec.timeout
        case .command(let spec): return spec.timeout
        case .k8s(let spec): return spec.timeout
        }
    }

    /// `before_samples` samples on the check's cadence; the first failure ends the phase.
    func steadyState() async -> StepResult? {
        guard definition.phases.contains(.before) else { return nil }
        let start = clock.now
        let stepName = "check: \(name) (before)"
        guard let probe else {
            return StepResult(kind: .preflight, name: stepName, status: .error, message: problem)
        }
        for index in 0..<definition.beforeSamples {
            do { try await Task.sleep(until: start + definition.interval * index, clock: clock) } catch {
                return StepResult(
                    kind: .preflight, name: stepName, status: .skipped, message: "the run was interrupted")
            }
            let outcome = await probe.sample()
            guard outcome.healthy else {
                return StepResult(
                    kind: .preflight, name: stepName, status: .failed,
                    message:
                        "steady state did not hold: sample \(index + 1) of \(definition.beforeSamples): \(outcome.detail)",
                    duration: clock.now - start, measured: "\(index) healthy",
                    limit: "\(definition.beforeSamples) healthy in a row")
            }
        }
        let count = definition.beforeSamples
        return StepResult(
            kind: .preflight, name: stepName, status: .passed, message: "\(count) of \(count) samples healthy",
            duration: clock.now - start, measured: "\(count) healthy", limit: "\(count) healthy in a row")
    }

    /// Starts the `during` samples as the faults go in.
    func faultsStarting(breach: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.liveSince = clock.now }
        guard definition.phases.contains(.during) else { return }
        startSampling(breach: breach)
    }

    private func startSampling(breach: (@Sendable (String) -> Void)?) {
        guard let probe, sampler == nil else { return }
        let abort = definition.slo?.abortOnBreach == true ? breach : nil
        let sampler = Sampler(probe: probe, interval: definition.interval, timeout: timeout) { [weak self] sample in
            // Only a failed sample can open or lengthen downtime, so only it can breach.
            if let abort, !sample.outcome.healthy { self?.checkBreach(abort) }
        }
        state.withLock { $0.sampler = sampler }
        sampler.start()
    }

    /// Ends the hold early when downtime or a failure run already exceeds its limit.
    private func checkBreach(_ breach: @Sendable (String) -> Void) {
        guard let sampler, let slo = definition.slo, !state.withLock({ $0.breached }) else { return }
        let timeline = Timeline(sampler.snapshot, now: clock.now)
        var reason: String?
        if let limit = slo.maxDowntime, timeline.downtime > limit {
            reason =
                "check \(name): downtime \(Format.duration(timeline.downtime)) exceeds max_downtime \(Format.duration(limit))"
        } else if let limit = slo.maxConsecutiveFailures, timeline.longestFailureRun > limit {
            reason =
                "check \(name): \(timeline.longestFailureRun) failures in a row exceed max_consecutive_failures \(limit)"
        }
        guard let reason,
            state.withLock({ state -> Bool in
                defer { state.breached = true }
                return !state.breached
            })
        else { return }
        breach(reason)
    }

    /// After rollback: waits for recovery, takes the `after` sample and returns every verdict.
    func faultsRolledBack(interrupted: Bool) async -> [StepResult] {
        let rolledBack = clock.now
        let start = state.withLock { $0.liveSince } ?? rolledBack
        guard !interrupted else {
            await sampler?.stop(drain: false)
            return [
                StepResult(
                    kind: .check, name: "check: \(name)", status: .skipped,
                    message: "the run was interrupted before the check was evaluated")
            ]
        }
        if let problem,
            definition.phases.contains(.during) || definition.phases.contains(.recovery)
                || definition.phases.contains(.after)
        {
            return [StepResult(kind: .check, name: "check: \(name)", status: .error, message: problem)]
        }
        var steps: [StepResult] = []
        var recovered: Duration?
        if definition.phases.contains(.recovery) {
            startSampling(breach: nil)
            let wait = definition.slo?.recoverWithin ?? CheckDefinition.defaultRecoveryWait
            let healthy =
                await sampler?.wait(until: rolledBack + wait) { samples in
                    samples.contains { $0.scheduled >= rolledBack && $0.outcome.healthy }
                } ?? false
            await sampler?.stop(drain: true)
            if healthy { recovered = recoveryTime(after: rolledBack) }
            steps.append(recoveryStep(recovered, waited: wait, since: rolledBack))
        } else {
            await sampler?.stop(drain: true)
        }
        if Task.isCancelled {
            return [
                StepResult(kind: .check, name: "check: \(name)", status: .skipped, message: "the run was interrupted")
            ]
        }
        if definition.phases.contains(.during) {
            // Without recovery sampling, what follows the rollback was not observed: a window
            // still open then ends at the rollback.
            let all = Timeline(
                sampler?.snapshot ?? [], now: definition.phases.contains(.recovery) ? clock.now : rolledBack)
            let live = Timeline(all.samples.filter { $0.scheduled < rolledBack }, now: rolledBack)
            var during = duringSteps(all: all, live: live, since: start)
            // The samples go with the first step (the `(during)` summary) for timeline reports.
            if !during.isEmpty {
                during[0].series = series(all, rolledBack: rolledBack, recovered: recovered)
            }
            steps.insert(contentsOf: during, at: 0)
        }
        if definition.phases.contains(.after), let probe {
            let begin = clock.now
            let outcome = await probe.sample()
            steps.append(
                StepResult(
                    kind: .check, name: "check: \(name) (after)", status: outcome.healthy ? .passed : .failed,
                    message: outcome.healthy
                        ? "healthy after rollback: \(outcome.detail)" : "not healthy after rollback: \(outcome.detail)",
                    startedAt: anchor.date(begin), duration: clock.now - begin, measured: outcome.detail))
        }
        return steps
    }

    /// Every sample on the wall clock with its latency, plus the latency SLO ceilings.
    private func series(_ timeline: Timeline, rolledBack: ContinuousClock.Instant, recovered: Duration?) -> CheckSeries
    {
        let points = timeline.samples.map { sample in
            CheckSeries.Point(
                at: anchor.date(sample.started), ok: sample.outcome.healthy, value: sample.latency.seconds)
        }
        let ceilings = (definition.slo?.latency ?? []).map {
            CheckSeries.Ceiling(label: "p\(Int($0.0))", value: $0.1.seconds)
        }
        return CheckSeries(
            unit: "s", points: points, ceilings: ceilings, rolledBackAt: anchor.date(rolledBack),
            recoveredAt: recovered.map { anchor.date(rolledBack + $0) })
    }

    /// Time from rollback to the end of the downtime that was open then (or began before the
    /// first healthy answer after it); zero when the check was healthy throughout.
    private func recoveryTime(after rolledBack: ContinuousClock.Instant) -> Duration {
        let timeline = Timeline(sampler?.snapshot ?? [], now: clock.now)
        guard let firstHealthy = timeline.samples.first(where: { $0.scheduled >= rolledBack && $0.outcome.healthy })
        else { return .zero }
        let ends = timeline.windows.filter { $0.end >= rolledBack && $0.start < firstHealthy.scheduled }.map(\.end)
        return ends.max().map { $0 - rolledBack } ?? .zero
    }

    private func recoveryStep(
        _ recovered: Duration?, waited: Duration, since rolledBack: ContinuousClock.Instant
    ) -> StepResult {
        let limit = definition.slo?.recoverWithin
        let limitText = limit.map { "<= \(Format.duration($0))" }
        guard let recovered else {
            return StepResult(
                kind: .recovery, name: "recovery: \(name)", status: .failed,
                message: "not healthy again within \(Format.duration(waited)) of rollback",
                startedAt: anchor.date(rolledBack), duration: waited, measured: "> \(Format.duration(waited))",
                limit: limitText)
        }
        let passed = limit.map { recovered <= $0 } ?? true
        var message =
            recovered == .zero ? "healthy at rollback" : "healthy again \(Format.duration(recovered)) after rollback"
        if let limit, !passed { message += ", more than recover_within \(Format.duration(limit))" }
        return StepResult(
            kind: .recovery, name: "recovery: \(name)", status: passed ? .passed : .failed, message: message,
            startedAt: anchor.date(rolledBack), duration: recovered, measured: Format.duration(recovered),
            limit: limitText)
    }

    private func duringSteps(all: Timeline, live: Timeline, since start: ContinuousClock.Instant) -> [StepResult] {
        let windows = all.reportWindows(anchor)
        let failed = live.samples.filter { !$0.outcome.healthy }.count
        let ratio = live.successRatio
        var summary = "\(live.samples.count) samples"
        if failed > 0 { summary += ", \(failed) failed" }
        if let ratio { summary += ", \(Format.percent(ratio)) healthy" }
        summary += "; " + Format.downtime(all)
        if let p50 = live.latency(at: 50), let p99 = live.latency(at: 99) {
            summary += "; latency p50 \(Format.duration(p50)), p99 \(Format.duration(p99))"
        }
        var properties = [
            "samples": String(live.samples.count), "failed": String(failed),
            "downtimeSeconds": String(format: "%.3f", all.downtime.seconds), "windows": String(all.windows.count),
            "missedTicks": String(sampler?.missedTicks ?? 0),
        ]
        // How late samples started against their schedule: the cadence a reader can trust.
        let lags = live.samples.map { ($0.started - $0.scheduled).seconds * 1000 }.sorted()
        if !lags.isEmpty {
            properties["scheduleLagP50Ms"] = String(format: "%.3f", lags[lags.count / 2])
            properties["scheduleLagP99Ms"] = String(format: "%.3f", lags[min(lags.count - 1, lags.count * 99 / 100)])
        }
        let started = anchor.date(start)
        let span = clock.now - start
        guard let slo = definition.slo else {
            let status: StepResult.Status = live.samples.isEmpty ? .error : (all.windows.isEmpty ? .passed : .failed)
            let message = live.samples.isEmpty ? "no sample was taken while the faults were live" : summary
            return [
                StepResult(
                    kind: .check, name: "check: \(name) (during)", status: status,
                    message: status == .failed ? "strict check (no slo): \(message)" : message,
                    startedAt: started, duration: span, properties: properties,
                    measured: Format.duration(all.downtime), limit: "no failed sample", windows: windows)
            ]
        }
        var steps = [
            StepResult(
                kind: .check, name: "check: \(name) (during)", status: live.samples.isEmpty ? .error : .passed,
                message: live.samples.isEmpty ? "no sample was taken while the faults were live" : summary,
                startedAt: started, duration: span, properties: properties, windows: windows)
        ]
        func verdict(
            _ slo: String, _ passed: Bool, measured: String, limit: String, detail: String,
            windows: [DowntimeWindow] = []
        ) {
            steps.append(
                StepResult(
                    kind: .check, name: "check: \(name) \(slo)", status: passed ? .passed : .failed,
                    message: "\(detail) (limit \(limit))", startedAt: started, duration: span,
                    measured: measured, limit: limit, windows: windows))
        }
        if let limit = slo.maxDowntime {
            let measured = Format.duration(all.downtime)
            verdict(
                "max_downtime", all.downtime <= limit, measured: measured, limit: "<= \(Format.duration(limit))",
                detail: Format.downtime(all), windows: windows)
        }
        if let limit = slo.minSuccessRatio {
            let measured = ratio.map(Format.percent) ?? "no samples"
            verdict(
                "min_success_ratio", (ratio ?? 0) >= limit, measured: measured, limit: ">= \(Format.percent(limit))",
                detail: "\(measured) of \(live.samples.count) samples healthy")
        }
        for (percentile, ceiling) in slo.latency {
            let label = "latency_p\(Int(percentile))"
            if let value = live.latency(at: percentile) {
                verdict(
                    label, value <= ceiling, measured: Format.duration(value), limit: "<= \(Format.duration(ceiling))",
                    detail: "p\(Int(percentile)) of healthy answers \(Format.duration(value))")
            } else {
                verdict(
                    label, false, measured: "none", limit: "<= \(Format.duration(ceiling))",
                    detail: "no healthy answer to measure")
            }
        }
        if let limit = slo.maxConsecutiveFailures {
            let longest = all.longestFailureRun
            verdict(
                "max_consecutive_failures", longest <= limit, measured: String(longest), limit: "<= \(limit)",
                detail: "longest run of failed samples: \(longest)")
        }
        return steps
    }
}

/// How checks print what they measured.
enum Format {
    /// Durations with sub-millisecond precision where it matters: `1.02s`, `350ms`, `0.42ms`.
    static func duration(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds >= 100 { return String(format: "%.0fs", seconds) }
        if seconds >= 1 { return String(format: "%.3g", seconds) + "s" }
        if seconds >= 0.01 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds == 0 { return "0s" }
        return String(format: "%.2fms", seconds * 1000)
    }

    static func downtime(_ timeline: Timeline) -> String {
        switch timeline.windows.count {
        case 0: return "no downtime"
        case 1: return "downtime \(duration(timeline.downtime)) in 1 window"
        case let count: return "downtime \(duration(timeline.downtime)) in \(count) windows"
        }
    }

    static func percent(_ share: Double) -> String {
        let value = share * 100
        return value == value.rounded() ? "\(Int(value))%" : String(format: "%.1f%%", value)
    }
}
