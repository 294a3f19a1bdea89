import Foundation

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
final class Sampler: @unchecked Sendable {
    let probe: any Probe
    let interval: Duration
    /// Samples in flight at once; a tick beyond this is recorded as a failed sample.
    let maxInFlight: Int

    private let clock = ContinuousClock()
    private let lock = NSLock()
    /// Kept in schedule order as samples arrive (they can finish out of order).
    private var samples: [Sample] = []
    /// Samples in flight, by tick; separate tasks, so that stopping the schedule does not
    /// cancel them (see ``stop(drain:)``).
    private var inFlight: [Int: Task<Void, Never>] = [:]
    /// Ticks skipped because the scheduler itself ran late (the machine was starved).
    private var missed = 0
    private var loop: Task<Void, Never>?
    private var waiters: [UUID: (predicate: ([Sample]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = [:]
    private let onSample: @Sendable (Sample) -> Void

    init(probe: any Probe, interval: Duration, timeout: Duration, onSample: @escaping @Sendable (Sample) -> Void = { _ in }) {
        self.probe = probe
        self.interval = interval
        self.maxInFlight = max(2, Int((timeout / interval).rounded(.up)) + 2)
        self.onSample = onSample
    }

    /// Starts sampling; the first sample starts at once.
    func start() {
        let origin = clock.now
        loop = Task.detached { [self] in
            var tick = 0
            while !Task.isCancelled {
                let scheduled = origin + interval * tick
                do { try await Task.sleep(until: scheduled, clock: clock) } catch { break }
                let lateTicks = Int(((clock.now - scheduled) / interval).rounded(.down))
                let current = tick
                tick += 1 + lateTicks
                let admitted = lock.withLock { () -> Bool in
                    missed += lateTicks
                    return inFlight.count < maxInFlight
                }
                guard admitted else {
                    record(Sample(scheduled: scheduled, started: scheduled, finished: clock.now,
                                  outcome: ProbeOutcome(healthy: false, detail: "no answer to \(maxInFlight) earlier samples", answered: false)))
                    continue
                }
                let task = Task.detached { [self] in
                    let started = clock.now
                    let outcome = await probe.sample()
                    let sample = Sample(scheduled: scheduled, started: started, finished: clock.now, outcome: outcome)
                    lock.withLock { inFlight[current] = nil }
                    // A sample cut short by stop() says nothing about the target.
                    if !Task.isCancelled { record(sample) }
                }
                lock.withLock { inFlight[current] = task }
            }
        }
    }

    private func record(_ sample: Sample) {
        let ready = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            // Walk back from the end to the sample's place: samples arrive nearly in order.
            var low = samples.count
            while low > 0 && samples[low - 1].scheduled > sample.scheduled { low -= 1 }
            samples.insert(sample, at: low)
            guard !waiters.isEmpty else { return [] }
            let done = waiters.filter { $0.value.predicate(samples) }
            for id in done.keys { waiters[id] = nil }
            return done.values.map(\.continuation)
        }
        ready.forEach { $0.resume() }
        onSample(sample)
    }

    /// Stops scheduling at once. With `drain`, samples in flight finish (each within its
    /// probe's timeout); otherwise they are cancelled and dropped.
    func stop(drain: Bool) async {
        guard let loop else { return }
        loop.cancel()
        await loop.value
        self.loop = nil
        let pending = lock.withLock { Array(inFlight.values) }
        for task in pending {
            if !drain { task.cancel() }
            await task.value
        }
    }

    var missedTicks: Int { lock.withLock { missed } }

    /// The samples so far, in schedule order.
    var snapshot: [Sample] {
        lock.withLock { samples }
    }

    /// Waits until `predicate` holds for the samples (in schedule order) or `deadline` passes;
    /// returns whether it held.
    func wait(until deadline: ContinuousClock.Instant, for predicate: @escaping ([Sample]) -> Bool) async -> Bool {
        let id = UUID()
        let release: @Sendable () -> Void = { [self] in
            let waiter = lock.withLock { waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
        let timer = Task { [clock] in
            try? await Task.sleep(until: deadline, clock: clock)
            release()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let holds = lock.withLock { () -> Bool in
                    if predicate(samples) || Task.isCancelled || clock.now >= deadline { return true }
                    waiters[id] = (predicate, continuation)
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
