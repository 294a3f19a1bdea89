import CStartup
import Foundation
import Synchronization

/// A guardian forked when `ebb run` starts, before it has threads, that waits to be needed.
///
/// A guardian started with exec pays the whole start-up of the ebb binary (relocations, the
/// runtime, the argument parser: about 8 ms of CPU) while its run is busy injecting, on the
/// same few cores. A fork at start-up costs a fraction of a millisecond. The forked process
/// waits, in C, until the run directory exists and the runner hands it the guardian's command
/// line; then until the runner is gone or the quiet period has passed; only then does it execute
/// `ebb guardian` in place (same pid). A run shorter than the quiet period never starts one
/// while it runs, and a run that closes settled within it never starts one at all. No record
/// can fall due in the quiet period: every record is armed after the waiting guardian exists,
/// with at least the deadline grace to its deadline.
public final class PreforkedGuardian: Sendable {
    /// The waiting process: the guardian's pid, before and after it executes `ebb guardian`.
    public let pid: Int32
    private let start: Mutex<Int32?>

    private init(pid: Int32, start: Int32) {
        self.pid = pid
        self.start = Mutex(start)
    }

    /// Forks the waiting guardian; nil when this process already has threads (forking one is
    /// then unsafe) or the fork failed, and a guardian is then spawned the usual way.
    public static func fork() -> PreforkedGuardian? {
        var start: Int32 = -1
        let pid = ebb_guardian_zygote_fork(&start)
        return pid > 0 ? PreforkedGuardian(pid: pid, start: start) : nil
    }

    /// Takes the waiting guardian for one run; nil once a run has taken it.
    func take() -> Waiting? {
        start.withLock { descriptor in
            defer { descriptor = nil }
            return descriptor.map { Waiting(pid: pid, start: $0) }
        }
    }

    /// The waiting guardian, taken by a run.
    struct Waiting: Sendable {
        let pid: Int32
        let start: Int32

        /// Hands it its command line. It executes `arguments` with the `environment` assignment
        /// added and its output appended to `logPath` once the runner is gone or `quietPeriod`
        /// has passed, unless ``release()`` comes first.
        func start(_ arguments: [String], logPath: String, quietPeriod: Duration, environment: String?) throws {
            let fields = [String(Int(quietPeriod.seconds * 1000)), logPath, environment ?? ""] + arguments
            var message: [UInt8] = []
            for field in fields { message += Array(field.utf8) + [0] }
            guard ebb_guardian_zygote_start(start, message, message.count) == 0 else {
                throw GuardianLauncher.Failure(
                    description: systemError("cannot start the waiting guardian \(pid)").description)
            }
        }

        /// The run closed settled (or never came to exist): a guardian that is still waiting
        /// exits without executing `ebb guardian`, which would find nothing to do and, started
        /// as the runner exits, would write its log into a state folder the job may be removing.
        func release() {
            ebb_guardian_zygote_release(start)
        }
    }
}
