import EbbCore
import EbbTestSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Remote hosts of the test's own, built by `Scenarios/fleet/hosts.sh` (the fixture of
/// fleet.yaml): `count` network namespaces, each with Debian's sshd and the demo target on its
/// own 10.x address (inside the namespaces only), reached from a client namespace. Started by
/// the test rather than as a fixture, so a link can be cut and the hosts outlive a runner.
/// `close()` stops the script, which ends its servers and removes every namespace.
final class TestFleet {
    private static let counter = Mutex(0)

    let prefix: String
    let count: Int
    let directory: URL
    let subnet: String
    private var script: Int32?

    init(count: Int, in workspace: Workspace) throws {
        let number = Self.counter.withLock { value in
            value += 1
            return value
        }
        prefix = "ef\(getpid() % 100_000)\(number)"
        self.count = count
        directory = workspace.url.appendingPathComponent("fleet")
        subnet = "10.\(236 + Int(getpid() % 10)).\(number % 250)"
        let hostsScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Scenarios/fleet/hosts.sh").standardized.path
        script = try ChildProcess.spawn(
            ["sh", hostsScript, prefix, String(count), directory.path, subnet],
            environment: ["EBB_EXECUTABLE": EbbBinary.path],
            outputPath: workspace.url.appendingPathComponent("fleet.log").path)
        guard
            eventually(
                timeout: .seconds(60),
                { FileManager.default.fileExists(atPath: directory.appendingPathComponent("ready").path) })
        else {
            close()
            throw SandboxFailure(
                description:
                    "the fleet did not come up: \((try? String(contentsOf: workspace.url.appendingPathComponent("fleet.log"), encoding: .utf8)) ?? "")"
            )
        }
    }

    deinit { close() }

    /// Stops the hosts and waits until every namespace is gone; safe to call twice.
    func close() {
        guard let script else { return }
        kill(script, SIGTERM)
        if ChildProcess.wait(script, timeout: .seconds(30)) == nil {
            kill(-script, SIGKILL)
            _ = ChildProcess.wait(script, timeout: nil)
        }
        self.script = nil
    }

    func name(_ index: Int) -> String { "h\(index)" }
    func address(_ index: Int) -> String { "\(subnet).\(10 + index)" }
    /// Where host `index` keeps its journal (inside the workspace, so tests never share one).
    func stateDirectory(_ index: Int) -> URL {
        directory.deletingLastPathComponent().appendingPathComponent("remote-state-h\(index)")
    }

    /// The suite's `hosts:` section.
    var hostsSection: String {
        "hosts:\n"
            + (1...count).map { index in
                """
                  - name: \(name(index))
                    address: \(address(index))
                    user: root
                    identity: \(directory.path)/id_ed25519
                    known_hosts: \(directory.path)/known_hosts
                    ssh: [ip, netns, exec, \(prefix)-cli, ssh]
                    state_dir: \(stateDirectory(index).path)
                    labels: { group: \(index % 2 == 0 ? "even" : "odd") }

                """
            }.joined()
    }

    /// The nft tables inside host `index`.
    func tables(_ index: Int) -> String {
        (try? ChildProcess.run(
            ["ip", "netns", "exec", "\(prefix)-h\(index)", "nft", "list", "tables"], timeout: .seconds(10)
        ).output) ?? "(host gone)"
    }

    /// Cuts (or restores) the link between host `index` and the client namespace.
    func setLink(_ index: Int, up: Bool) throws {
        let result = try ChildProcess.run(
            ["ip", "-n", "\(prefix)-cli", "link", "set", "\(prefix)-v\(index)", up ? "up" : "down"],
            timeout: .seconds(10))
        guard result.status == 0 else { throw SandboxFailure(description: result.output) }
    }

    /// The records of host `index`'s journal of the runner's run `runID`, as JSON objects.
    func remoteRecords(_ index: Int, runID: String) -> [[String: Any]] {
        let root = stateDirectory(index).appendingPathComponent("rollback")
        guard
            let run = (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.first(where: {
                $0.hasSuffix("-\(runID)-h\(index)")
            })
        else { return [] }
        let folder = root.appendingPathComponent(run)
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter {
            $0.hasPrefix("0") && $0.hasSuffix(".json")
        }.compactMap { try? recordObject(inFile: folder.appendingPathComponent($0)) }
    }

    /// Host `index`'s run.json of the runner's run `runID`.
    func remoteRun(_ index: Int, runID: String) -> [String: Any]? {
        let root = stateDirectory(index).appendingPathComponent("rollback")
        guard
            let run = (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.first(where: {
                $0.hasSuffix("-\(runID)-h\(index)")
            }),
            let data = try? Data(contentsOf: root.appendingPathComponent(run).appendingPathComponent("run.json"))
        else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }
}
