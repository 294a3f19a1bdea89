import Foundation
import Synchronization

/// One answer of a probe, placed on the monotonic clock.
struct Sample: Sendable {
    /// When the schedule said the sample should start.
    var scheduled: ContinuousClock.Instant
    var started: ContinuousClock.Instant
    var finished: ContinuousClock.Instant
    var outcome: ProbeOutcome

    var latency: Duration { finished - started }
}

/// Samples a probe on a fixed cadence from the monotonic clock: sample k starts at
/// `origin + k * interval` whatever earlier samples took, so a slow or hanging target never
/// stretches the schedule. Samples overlap when the target is slower than the interval.
final class Sampler: Sendable {
    let probe: any Probe
    let interval: Duration
    /// Samples in flight at once; a tick beyond this is recorded as a failed sample.
    let maxInFlight: Int

    private let clock = ContinuousClock()
    private let onSample: @Sendable (Sample) -> Void

    private struct State {
        /// Kept in schedule order as samples arrive (they can finish out of order).
        var samples: [Sample] = []
        /// Samples in flight, by tick; separate tasks, so that stopping the schedule does not
        /// cancel them (see ``Sampler/stop(drain:)``).
        var inFlight: [Int: Task<Void, Never>] = [:]
        /// Ticks skipped because the scheduler itself ran late (the machine was starved).
        var missed = 0
        var loop: Task<Void, Never>?
        var waiters: [UUID: (predicate: @Sendable ([Sample]) -> Bool, continuation: CheckedContinuation<Void, Never>)] =
            [:]
    }

    private let state = Mutex(State())

    init(
        probe: any Probe, interval: Duration, timeout: Duration,
        onSample: @escaping @Sendable (Sample) -> Void = { _ in }
    ) {
        self.probe = probe
        self.interval = interval
        self.maxInFlight = max(2, Int((timeout / interval).rounded(.up)) + 2)
        self.onSample = onSample
    }

    /// Starts sampling; the first sample starts at once.
    func start() {
        let origin = clock.now
        let loop = Task.detached { [self] in
            var tick = 0
            while !Task.isCancelled {
                let scheduled = origin + interval * tick
                do { try await Task.sleep(until: scheduled, clock: clock) } catch { break }
                let lateTicks = Int(((clock.now - scheduled) / interval).rounded(.down))
                let current = tick
                tick += 1 + lateTicks
                let admitted = state.withLock { state -> Bool in
                    state.missed += lateTicks
                    return state.inFlight.count < maxInFlight
                }
                guard admitted else {
                    record(
                        Sample(
                            scheduled: scheduled, started: scheduled, finished: clock.now,
                            outcome: ProbeOutcome(
                                healthy: false, detail: "no answer to \(maxInFlight) earlier samples", answered: false))
                    )
                    continue
                }
                let task = Task.detached { [self] in
                    let started = clock.now
                    let outcome = await probe.sample()
                    let sample = Sample(scheduled: scheduled, started: started, finished: clock.now, outcome: outcome)
                    state.withLock { $0.inFlight[current] = nil }
                    // A sample cut short by stop() says nothing about the target.
                    if !Task.isCancelled { record(sample) }
                }
                state.withLock { $0.inFlight[current] = task }
            }
        }
        state.withLock { $0.loop = loop }
    }

    private func record(_ sample: Sample) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            // Walk back from the end to the sample's place: samples arrive nearly in order.
            var low = state.samples.count
            while low > 0 && state.samples[low - 1].scheduled > sample.scheduled { low -= 1 }
            state.samples.insert(sample, at: low)
            guard !state.waiters.isEmpty else { return [] }
            let done = state.waiters.filter { $0.value.predicate(state.samples) }
            for id in done.keys { state.waiters[id] = nil }
            return done.values.map(\.continuation)
        }
        ready.forEach { $0.resume() }
        onSample(sample)
    }

    /// Stops scheduling at once. With `drain`, samples in flight finish (each within its
    /// probe's timeout); otherwise they are cancelled and dropped.
    func stop(drain: Bool) async {
        guard let loop = state.withLock({ $0.loop }) else { return }
        loop.cancel()
        await loop.value
        let pending = state.withLock { state in
            state.loop = nil
            return Array(state.inFlight.values)
        }
        for task in pending {
            if !drain { task.cancel() }
            await task.value
        }
    }

    var missedTicks: Int { state.withLock { $0.missed } }

    /// The samples so far, in schedule order.
    var snapshot: [Sample] {
        state.withLock { $0.samples }
    }

    /// Waits until `predicate` holds for the samples (in schedule order) or `deadline` passes;
    /// returns whether it held. `predicate` is also run by the sample tasks as samples arrive,
    /// hence `@Sendable`.
    func wait(
        until deadline: ContinuousClock.Instant, for predicate: @escaping @Sendable ([Sample]) -> Bool
    ) async -> Bool {
        let id = UUID()
        let release: @Sendable () -> Void = { [self] in
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
        let timer = Task { [clock] in
            try? await Task.sleep(until: deadline, clock: clock)
            release()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let holds = state.withLock { state -> Bool in
                    if predicate(state.samples) || Task.isCancelled || clock.now >= deadline { return true }
                    state.waiters[id] = (predicate, continuation)
                    return false
                }
                if holds { continuation.resume() }
            }
        } onCancel: {
            release()
        }
        timer.cancel()
        return predicate(snapshot)
    }
}
