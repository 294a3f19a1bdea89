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
    private var samples: [Sample] = []
    private var inFlight = 0
    /// Ticks skipped because the scheduler itself ran late (the machine was starved).
    private var missed = 0
    private var loop: Task<Void, Never>?
    private var stopping = false
    private var waiters: [UUID: (predicate: ([Sample]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = [:]
    private let onSample: @Sendable () -> Void

    init(probe: any Probe, interval: Duration, timeout: Duration, onSample: @escaping @Sendable () -> Void = {}) {
        self.probe = probe
        self.interval = interval
        self.maxInFlight = max(2, Int((timeout / interval).rounded(.up)) + 2)
        self.onSample = onSample
    }

    /// Starts sampling; the first sample starts at once.
    func start() {
        let origin = clock.now
        loop = Task.detached { [self] in
            await withDiscardingTaskGroup { group in
                var tick = 0
                while !Task.isCancelled {
                    let scheduled = origin + interval * tick
                    do { try await Task.sleep(until: scheduled, clock: clock) } catch { break }
                    if lock.withLock({ stopping }) { break }
                    let lateTicks = Int(((clock.now - scheduled) / interval).rounded(.down))
                    if lateTicks > 0 { lock.withLock { missed += lateTicks } }
                    tick += 1 + lateTicks
                    let admitted = lock.withLock { () -> Bool in
                        guard inFlight < maxInFlight else { return false }
                        inFlight += 1
                        return true
                    }
                    guard admitted else {
                        record(Sample(scheduled: scheduled, started: scheduled, finished: clock.now,
                                      outcome: ProbeOutcome(healthy: false, detail: "no answer to \(maxInFlight) earlier samples", answered: false)),
                               settled: false)
                        continue
                    }
                    group.addTask { [self] in
                        let started = clock.now
                        let outcome = await probe.sample()
                        let sample = Sample(scheduled: scheduled, started: started, finished: clock.now, outcome: outcome)
                        // A sample cut short by stop() says nothing about the target.
                        record(sample, settled: true, keep: !Task.isCancelled)
                    }
                }
            }
        }
    }

    private func record(_ sample: Sample, settled: Bool, keep: Bool = true) {
        let ready = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            if settled { inFlight -= 1 }
            guard keep else { return [] }
            samples.append(sample)
            let ordered = samples.sorted { $0.scheduled < $1.scheduled }
            let done = waiters.filter { $0.value.predicate(ordered) }
            for id in done.keys { waiters[id] = nil }
            return done.values.map(\.continuation)
        }
        ready.forEach { $0.resume() }
        if keep { onSample() }
    }

    /// Stops scheduling. With `drain`, samples in flight finish (each within its timeout);
    /// otherwise they are cancelled and dropped.
    func stop(drain: Bool) async {
        guard let loop else { return }
        if drain {
            // Cancelling the loop would cancel the samples in flight too; a flag ends it at
            // the next tick instead, and the task group then waits for them.
            lock.withLock { stopping = true }
        } else {
            loop.cancel()
        }
        await loop.value
        self.loop = nil
    }

    var missedTicks: Int { lock.withLock { missed } }

    /// The samples so far, in schedule order.
    var snapshot: [Sample] {
        lock.withLock { samples.sorted { $0.scheduled < $1.scheduled } }
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
                    if predicate(samples.sorted { $0.scheduled < $1.scheduled }) || Task.isCancelled || clock.now >= deadline { return true }
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
