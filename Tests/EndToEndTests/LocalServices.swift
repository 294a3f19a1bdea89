import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
func freePort() throws -> Int {
    let (fd, port) = try boundSocket()
    close(fd)
    return port
}

/// A socket listening on 127.0.0.1 (the kernel picks the port): a `tcp` check against it is
/// healthy, the kernel completing each connection from its backlog, until the test closes `fd`.
func listeningSocket() throws -> (fd: Int32, port: Int) {
    let (fd, port) = try boundSocket()
    guard listen(fd, 128) == 0 else {
        close(fd)
        throw Missing()
    }
    return (fd, port)
}

private func boundSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Missing() }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else {
        close(fd)
        throw Missing()
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A server the test starts (Ebb's demo target, Prometheus, the Pushgateway) and stops by pid.
final class LocalService {
    let pid: Int32
    let log: String

    init(_ command: [String], in directory: URL, name: String) throws {
        log = directory.appendingPathComponent("\(name).log").path
        pid = try ChildProcess.spawn(command, directory: directory.path, outputPath: log)
    }

    /// Waits until `url` answers 2xx with a body containing `text`, polling (no fixed sleeps).
    func waitUntil(_ url: String, contains text: String = "", timeout: Duration = .seconds(60)) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if let body = httpGet(url), body.contains(text) || text.isEmpty { return true }
            if ChildProcess.reap(pid) != nil { return false }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit {
        kill(-pid, SIGKILL)
        _ = ChildProcess.wait(pid, timeout: .seconds(10))
    }
}

/// The body of a successful GET, or nil (curl: the tests need no HTTP client of their own).
func httpGet(_ url: String) -> String? {
    guard let result = try? ChildProcess.run(["curl", "-sf", "--max-time", "5", url], timeout: .seconds(10)),
        result.status == 0
    else { return nil }
    return result.output
}

/// A check as the rollback summary reports it, read as a CI consumer would.
struct ReportedCheck: Decodable {
    var scenario: String
    var name: String
    var status: String
    var measured: String?
    var limit: String?
    var message: String?
    var windows: [DowntimeWindow]
}

/// The checks in `reports/rollback-summary.json` under `directory`, by step name.
func reportedChecks(in directory: URL) throws -> [String: ReportedCheck] {
    struct Summary: Decodable { var checks: [ReportedCheck] }
    let data = try Data(contentsOf: directory.appendingPathComponent("reports/rollback-summary.json"))
    let checks = try JSONDecoder.journal.decode(Summary.self, from: data).checks
    return Dictionary(checks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}
