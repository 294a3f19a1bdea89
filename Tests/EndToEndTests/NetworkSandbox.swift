import EbbCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Two network namespaces of the test's own joined by a veth pair: `server` (10.x.y.1) runs the
/// demo target, `client` (10.x.y.2) probes it. The test's addresses live only inside them, and
/// `close()` deletes both namespaces (and with them every table, rule and qdisc in them).
final class NetworkSandbox {
    private static let counter = Mutex(0)

    let server: String
    let client: String
    /// The server side of the veth pair, inside `server`.
    let serverInterface: String
    let serverAddress: String
    let clientAddress: String
    let port = 8080
    private var demoTarget: Int32?

    init() throws {
        let number = Self.counter.withLock { value in
            value += 1
            return value
        }
        let tag = "\(getpid() % 100_000)-\(number)"
        server = "ebbt-\(tag)-srv"
        client = "ebbt-\(tag)-cli"
        serverInterface = "ebbs\(tag)".prefix(15).description
        let subnet = "10.\(200 + Int(getpid() % 50)).\(number % 250)"
        serverAddress = "\(subnet).1"
        clientAddress = "\(subnet).2"
        let clientInterface = "ebbc\(tag)".prefix(15).description
        try Self.ip(["netns", "add", server])
        do {
            try Self.ip(["netns", "add", client])
            try Self.ip([
                "link", "add", serverInterface, "netns", server, "type", "veth", "peer", "name", clientInterface,
                "netns", client,
            ])
            try Self.ip(["-n", server, "addr", "add", "\(serverAddress)/24", "dev", serverInterface])
            try Self.ip(["-n", client, "addr", "add", "\(clientAddress)/24", "dev", clientInterface])
            for (namespace, interface) in [(server, serverInterface), (client, clientInterface)] {
                try Self.ip(["-n", namespace, "link", "set", interface, "up"])
                try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            }
        } catch {
            close()
            throw error
        }
    }

    /// Stops the demo target and deletes both namespaces; safe to call twice.
    func close() {
        if let demoTarget {
            kill(demoTarget, SIGKILL)
            _ = ChildProcess.wait(demoTarget, timeout: .seconds(5))
            self.demoTarget = nil
        }
        for namespace in [server, client] {
            _ = try? ChildProcess.run(["ip", "netns", "delete", namespace], timeout: .seconds(10))
        }
    }

    deinit { close() }

    var url: String { "http://\(serverAddress):\(port)" }

    /// Starts the demo target inside `server` and waits until the client reaches it.
    func startDemoTarget(log: String) throws {
        demoTarget = try ChildProcess.spawn(
            [
                "ip", "netns", "exec", server, EbbBinary.path, "demo-target",
                "--host", serverAddress, "--port", String(port),
            ], outputPath: log)
        guard eventually(timeout: .seconds(20), { clientReachesServer() }) else { throw Missing() }
    }

    /// Runs a command inside the client namespace.
    func inClient(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: Int32, output: String) {
        try ChildProcess.run(["ip", "netns", "exec", client] + arguments, timeout: timeout)
    }

    func inServer(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ChildProcess.run(["ip", "netns", "exec", server] + arguments, timeout: .seconds(20))
    }

    func clientReachesServer() -> Bool {
        (try? inClient(["curl", "-sf", "--max-time", "2", "\(url)/healthz"]))?.status == 0
    }

    /// Everything a network fault could leave behind in the server namespace.
    func serverState() throws -> String {
        try [
            ["nft", "list", "ruleset"], ["tc", "qdisc", "show"], ["iptables", "-t", "mangle", "-S"],
            ["ip6tables", "-t", "mangle", "-S"],
        ]
        .map { "$ \($0.joined(separator: " "))\n" + (try inServer($0)).output }.joined(separator: "\n")
    }

    /// Round-trip times in milliseconds of `count` pings from the client, sorted.
    func pingTimes(count: Int, interval: String = "0.05") throws -> [Double] {
        let result = try inClient(["ping", "-n", "-c", String(count), "-i", interval, "-W", "2", serverAddress])
        return result.output.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("time=") }.flatMap { Double($0.dropFirst(5)) }
        }.sorted()
    }

    /// The share of `count` pings, sent every 2 ms, that got no answer.
    func pingLoss(count: Int) throws -> Double {
        let result = try inClient(["ping", "-n", "-q", "-c", String(count), "-i", "0.002", "-W", "1", serverAddress])
        let line = try unwrap(result.output.split(separator: "\n").first { $0.contains("packets transmitted") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        return 1 - Double(numbers[1]) / Double(numbers[0])
    }

    /// Bytes per second of an HTTP download of `bytes` from the demo target, as curl measured it.
    func downloadRate(bytes: Int) throws -> Double {
        let result = try inClient([
            "curl", "-sf", "-o", "/dev/null", "-w", "%{speed_download}", "\(url)/bytes?n=\(bytes)",
        ])
        return try unwrap(Double(result.output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    private static func ip(_ arguments: [String]) throws {
        let result = try ChildProcess.run(["ip"] + arguments, timeout: .seconds(10))
        guard result.status == 0 else {
            throw SandboxFailure(description: "ip \(arguments.joined(separator: " ")): \(result.output)")
        }
    }
}

struct SandboxFailure: Error, CustomStringConvertible {
    var description: String
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}
