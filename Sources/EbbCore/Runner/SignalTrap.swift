import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGINT, SIGTERM and SIGHUP into calls of `handler` on a dispatch queue, instead of
/// letting them end the process: the runner must roll back first (ARCHITECTURE.md invariant 2).
public final class SignalTrap: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    public init(signals: [Int32] = SignalTrap.handled, handler: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "ebb.signals")
        for number in signals {
            // libdispatch on Linux reads signals through its own mechanism only while the default
            // action is off, so SIG_IGN must come first (setting it after resume loses delivery).
            // Nothing is injected before the trap exists, so the instant in between is harmless.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    deinit { sources.forEach { $0.cancel() } }

    /// The conventional name of a signal Ebb handles, e.g. `SIGTERM`.
    public static func name(of number: Int32) -> String {
        switch number {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGKILL: return "SIGKILL"
        default: return "signal \(number)"
        }
    }
}
