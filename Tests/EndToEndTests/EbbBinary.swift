import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The built `ebb` binary, run as a user would: `$EBB_BIN`, else beside the test bundle.
enum EbbBinary {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["EBB_BIN"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("ebb").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../.build/debug/ebb"
        ).standardized.path
    }
}

/// One `ebb` invocation with its output captured to files. Started with posix_spawn and
/// reaped with waitpid: Foundation's `Process.waitUntilExit` was seen to hang under Swift Testing.
final class EbbRun {
    let pid: Int32
    let stdoutPath: String
    let stderrPath: String
    private var status: Int32?

    /// With `closingStandardInput`, ebb starts with descriptor 0 closed (`exec ebb ... <&-`, same pid).
    init(
        _ arguments: [String], in directory: URL, environment: [String: String]? = nil,
        closingStandardInput: Bool = false
    ) throws {
        stdoutPath = directory.appendingPathComponent("stdout-\(UUID().uuidString.prefix(6)).log").path
        stderrPath = directory.appendingPathComponent("stderr-\(UUID().uuidString.prefix(6)).log").path
        let command = closingStandardInput ? ["/bin/sh", "-c", "exec \"$@\" <&-", "sh"] : []
        pid = try ChildProcess.spawn(
            command + [EbbBinary.path] + arguments,
            environment: Self.registry.merging(environment ?? [:]) { _, given in given },
            directory: directory.path, outputPath: stdoutPath, errorPath: stderrPath)
    }

    /// Runs copy their records to a host registry. Unless the tests were given one (ci/test.sh
    /// makes a temporary one), they get a folder of this test process: a test run by hand as
    /// root must not leave copies in /var/lib/ebb/registry, which a real sweep timer acts on.
    private static let registry: [String: String] = {
        guard ProcessInfo.processInfo.environment["EBB_REGISTRY_DIR"] == nil else { return [:] }
        try? FileManager.default.createDirectory(at: registryFolder, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: EbbRun.registryFolder) }
        return ["EBB_REGISTRY_DIR": registryFolder.path]
    }()

    private static let registryFolder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ebb-test-registry-\(getpid())")

    /// Runs to completion and returns the exit status and output.
    static func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, stdout: String, stderr: String)
    {
        let run = try EbbRun(arguments, in: directory)
        let status = run.wait()
        return (status, run.stdout, run.stderr)
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text` (the runner says what it is doing), up to `timeout`.
    func waitForOutput(_ text: String, timeout: Duration = .seconds(30)) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if stdout.contains(text) { return true }
            if let status = ChildProcess.reap(pid) {
                self.status = status
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return stdout.contains(text)
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// A test that throws before waiting must not leave a runner holding its faults: end it
    /// the way a user would (SIGTERM rolls back), and reap it.
    deinit {
        if status == nil, ChildProcess.reap(pid) == nil {
            kill(pid, SIGTERM)
            _ = wait()
        }
    }

    /// Waits for exit (at most two minutes, then kills); a signal death reads as 128 + signal.
    func wait() -> Int32 {
        if let status { return status }
        if let code = ChildProcess.wait(pid, timeout: .seconds(120)) {
            status = code
            return code
        }
        kill(pid, SIGKILL)
        status = ChildProcess.wait(pid, timeout: nil) ?? -1
        return -1
    }
}

/// Checks a JUnit file the way CI consumers would: with `ebb report validate` (libxml2, the
/// built-in schema of `flavor`) and, where xmllint is installed, with xmllint and the vendored schemas too.
func validateJUnit(_ path: String, flavor: String = "portable", in directory: URL) throws -> [String] {
    var problems: [String] = []
    let own = try EbbRun.run(["report", "validate", path, "--flavor", flavor], in: directory)
    if own.status != 0 { problems.append("ebb report validate: \(own.stderr)") }
    let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../Fixtures/junit-schemas"
    ).standardized
    let schema = schemas.appendingPathComponent(flavor == "ant" ? "JUnit.xsd" : "junit-10.xsd").path
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint"), FileManager.default.fileExists(atPath: schema)
    {
        let log = directory.appendingPathComponent("xmllint-\(UUID().uuidString.prefix(6)).log").path
        let pid = try ChildProcess.spawn(
            ["/usr/bin/xmllint", "--noout", "--schema", schema, path], directory: directory.path, outputPath: log)
        if ChildProcess.wait(pid, timeout: .seconds(60)) != 0 {
            problems.append("xmllint: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        }
    }
    return problems
}
