import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts programs in their own process group, so that Ebb can later end exactly them (and
/// their children) by group id and never by name. Foundation's `Process` cannot set a process
/// group and swift-subprocess ties a child's lifetime to a closure, while fixtures, restarted
/// services and workers must outlive the call that starts them: hence posix_spawn directly.
public enum ChildProcess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `arguments` in a new process group and returns its pid without waiting.
    /// Output goes to `outputPath` (appended), or to /dev/null; errors go with it unless `errorPath` is given.
    /// With `newSession`, the child leads a session of its own, so it survives its parent and a
    /// kill of the parent's process group (a CI step being cancelled). `input` and `output`, when
    /// given, are descriptors (pipe ends) the child gets as stdin and stdout instead.
    public static func spawn(
        _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil, outputPath: String? = nil, errorPath: String? = nil,
        newSession: Bool = false, input: Int32? = nil, output: Int32? = nil
    ) throws -> Int32 {
        guard let program = arguments.first else { throw Failure(description: "empty command") }
        let executable = resolve(program)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Descriptors Ebb holds are handed over by dup2: an open in the child (a path to look
        // up, a file to open) cost more than the rest of its set-up together.
        if let input = input ?? (nullInput >= 0 ? nullInput : nil) {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
        } else {
            posix_spawn_file_actions_addopen(
                &actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // A child gets stdin, stdout and stderr only (glibc 2.34+). Descriptors Ebb holds
        // without close-on-exec would otherwise live on in fixtures and workers: a suite
        // proxy's listener would keep accepting for a runner that died, and a script still
        // open for writing could not be executed (ETXTBSY).
        _ = addCloseFromAction?(&actions, 3)
        if let directory {
            guard let addChdir = addChdirAction else {
                throw Failure(description: "this C library cannot start a program in another directory")
            }
            _ = addChdir(&actions, directory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children start with default signal dispositions and an empty mask, whatever Ebb ignores.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        // POSIX_SPAWN_SETSID (glibc 2.26+) is declared only under _GNU_SOURCE; its value is 0x80.
        let group = newSession ? Int32(0x80) : Int32(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setflags(&attributes, Int16(group | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environmentBlock(adding: environment ?? [:])
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard code == 0 else {
            throw Failure(description: systemError("cannot start", program, errno: code).description)
        }
        return pid
    }

    /// Waits for child `pid` to exit and reaps it; returns its exit status (128+N for signal N),
    /// or nil when `timeout` passed first. Uses a pidfd, so waiting costs no polling.
    public static func wait(_ pid: Int32, timeout: Duration?) -> Int32? {
        if let timeout {
            let fd = pidfdOpen(pid)
            if fd >= 0 {
                defer { close(fd) }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(min(timeout.seconds * 1000, Double(Int32.max)))
                var ready: Int32
                repeat { ready = poll(&entry, 1, milliseconds) } while ready < 0 && errno == EINTR
                if ready == 0 { return nil }
            } else {
                // No pidfd (old kernel, seccomp): poll without blocking so the timeout still holds.
                let clock = ContinuousClock()
                let end = clock.now + timeout
                while clock.now < end {
                    if let code = reap(pid) { return code }
                    Thread.sleep(forTimeInterval: 0.01)
                }
                return reap(pid)
            }
        }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        guard result == pid else { return -1 }
        return exitCode(status)
    }

    /// Reaps `pid` if it has exited, without blocking.
    @discardableResult
    public static func reap(_ pid: Int32) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return exitCode(status)
    }

    /// Waits until process `pid` (not necessarily a child) is gone, up to `timeout`.
    public static func waitUntilGone(_ pid: Int32, startTime: UInt64, timeout: Duration) -> Bool {
        let fd = pidfdOpen(pid)
        guard fd >= 0 else {
            let clock = ContinuousClock()
            let end = clock.now + timeout
            while clock.now < end && ProcessTable.isAlive(pid: pid, startTime: startTime) {
                reap(pid)
                Thread.sleep(forTimeInterval: 0.01)
            }
            return !ProcessTable.isAlive(pid: pid, startTime: startTime)
        }
        defer { close(fd) }
        guard ProcessTable.isAlive(pid: pid, startTime: startTime) else { return true }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, Int32(timeout.seconds * 1000)) } while ready < 0 && errno == EINTR
        reap(pid)
        return ready > 0 || !ProcessTable.isAlive(pid: pid, startTime: startTime)
    }

    /// Runs a command to completion, capturing its combined output (kept to the last 64 KiB).
    /// On timeout the whole process group is killed. `input`: a descriptor the command reads as stdin.
    public static func run(
        _ arguments: [String], timeout: Duration, environment: [String: String]? = nil,
        directory: String? = nil, input: Int32? = nil
    ) throws -> (status: Int32, output: String) {
        // The output goes to an anonymous in-memory file: an undo must work where $TMPDIR is
        // full, read-only or gone (a crashed job's container), so nothing is written to disk.
        let capture = try OutputCapture()
        let marked = (environment ?? [:]).merging(InFlightTools.environment) { given, _ in given }
        let pid = try spawn(
            arguments, environment: marked, directory: directory, input: input, output: capture.descriptor)
        guard let status = wait(pid, timeout: timeout) else {
            kill(-pid, SIGKILL)
            _ = wait(pid, timeout: nil)
            throw Failure(
                description:
                    "\(arguments.joined(separator: " ")) did not finish within \(DurationText.format(timeout)); killed")
        }
        return (status, String(decoding: capture.tail(65_536), as: UTF8.self))
    }

    /// A child's environment, `NAME=value` strings to free: this process's, read from `environ`
    /// itself (a dictionary of the whole environment for every command was a measurable part of
    /// starting one), with `extra` set over it.
    private static func environmentBlock(adding extra: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
        var block: [UnsafeMutablePointer<CChar>?] = []
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        while let variable = entry?.pointee {
            entry = entry?.successor()
            if !extra.isEmpty, let equals = strchr(variable, Int32(UInt8(ascii: "="))) {
                let name = String(
                    decoding: UnsafeRawBufferPointer(start: variable, count: variable.distance(to: equals)),
                    as: UTF8.self)
                if extra[name] != nil { continue }
            }
            block.append(strdup(variable))
        }
        for (name, value) in extra { block.append(strdup("\(name)=\(value)")) }
        return block + [nil]
    }

    /// `/dev/null`, open for reading once: every child's stdin unless it is given one.
    private static let nullInput = open("/dev/null", O_RDONLY | O_CLOEXEC)

    /// The program to execute: `ebb` means this very binary; bare names are looked up in PATH.
    public static func resolve(_ program: String) -> String {
        if program == "ebb" { return currentExecutable }
        if program.contains("/") { return program }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return program
    }

    /// The path of the running ebb binary, as it was when it started.
    public static let currentExecutable: String =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

    /// `pidfd_open(2)`, or -1 where the C library lacks it (callers then fall back to /proc).
    /// glibc 2.36 has the wrapper in <sys/pidfd.h>, which Swift's Glibc module does not include,
    /// and `syscall(2)` is variadic and so unavailable to Swift: hence the run-time lookup.
    public static func pidfdOpen(_ pid: Int32) -> Int32 {
        pidfdOpenFunction?(pid, 0) ?? -1
    }

    private typealias PidfdOpen = @convention(c) (Int32, UInt32) -> Int32
    private static let pidfdOpenFunction: PidfdOpen? = lookUp("pidfd_open", as: PidfdOpen.self)

    /// glibc declares `posix_spawn_file_actions_addchdir_np` only under _GNU_SOURCE, which the
    /// Swift module for Glibc does not set, so it is looked up at run time.
    private typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addChdirAction: AddChdir? = lookUp("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)
    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, looked up for the same reason.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFromAction: AddCloseFrom? = lookUp(
        "posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

    private static func lookUp<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
