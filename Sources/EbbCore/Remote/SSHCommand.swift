import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How Ebb reaches one remote host: the user's own OpenSSH client, with one multiplexed
/// connection per host (ControlMaster), so a fault costs a session, not a handshake.
///
/// Host keys are always checked (BatchMode makes an unknown key an error instead of a prompt).
/// ServerAlive probes make a cut link fail within a few seconds instead of hanging a rollback.
public struct SSHCommand: Sendable {
    public let host: RemoteHost

    public init(host: RemoteHost) { self.host = host }

    /// Where the control sockets live: a private folder, short enough for a socket path.
    public static var controlDirectory: String { "/tmp/ebb-ssh-\(getuid())" }

    /// The ssh command line that runs `command` (a shell command line) on the host.
    public func arguments(running command: String, master: Bool = true) -> [String] {
        var arguments =
            host.sshCommand + [
                "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3",
            ]
        if master {
            arguments += [
                "-o", "ControlMaster=auto", "-o", "ControlPath=\(Self.controlDirectory)/%C", "-o", "ControlPersist=30",
            ]
        }
        if let port = host.port { arguments += ["-p", String(port)] }
        if let user = host.user { arguments += ["-l", user] }
        if let identity = host.identityFile { arguments += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
        if let knownHosts = host.knownHostsFile { arguments += ["-o", "UserKnownHostsFile=\(knownHosts)"] }
        for (name, value) in host.options.sorted(by: { $0.key < $1.key }) { arguments += ["-o", "\(name)=\(value)"] }
        return arguments + ["--", host.address, command]
    }

    /// Runs `command` on the host and returns its output; throws ``RemoteHostError`` when ssh
    /// itself fails (exit 255: unreachable, key refused) or the command fails.
    public func run(_ command: String, timeout: Duration, input: Int32? = nil) throws -> (status: Int32, output: String)
    {
        try Self.prepareControlDirectory()
        let result: (status: Int32, output: String)
        do {
            result = try ChildProcess.run(arguments(running: command), timeout: timeout, input: input)
        } catch {
            throw RemoteHostError(host: host, problem: "\(error)")
        }
        if result.status == 255 {
            throw RemoteHostError(
                host: host,
                problem:
                    "ssh failed: \(Excerpt.of(result.output.trimmingCharacters(in: .whitespacesAndNewlines), limit: 300))"
            )
        }
        return result
    }

    /// Ends the host's shared connection, if one is open (`ssh -O exit`).
    public func closeMaster() {
        let arguments =
            host.sshCommand + ["-o", "ControlPath=\(Self.controlDirectory)/%C"]
            + (host.port.map { ["-p", String($0)] } ?? [])
            + (host.user.map { ["-l", $0] } ?? []) + ["-O", "exit", "--", host.address]
        _ = try? ChildProcess.run(arguments, timeout: .seconds(5))
    }

    public static func prepareControlDirectory() throws {
        let path = controlDirectory
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw systemError("cannot create", path) }
        var status = stat()
        guard lstat(path, &status) == 0, status.st_uid == getuid(), status.st_mode & S_IFMT == S_IFDIR,
            status.st_mode & 0o077 == 0
        else {
            throw FaultError(
                description:
                    "\(path) must be a folder of this user that no one else can open (it holds ssh's control sockets)")
        }
    }
}

/// A remote host that could not be reached or refused: reported per host, never a hang.
public struct RemoteHostError: Error, CustomStringConvertible {
    public var host: RemoteHost
    public var problem: String

    public init(host: RemoteHost, problem: String) {
        self.host = host
        self.problem = problem
    }

    public var description: String { "host \(host.name) (\(host.address)): \(problem)" }
}

/// Words for a POSIX shell: what ssh hands the remote user's shell is one command line.
public enum Shell {
    public static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A path on the host: absolute as it is, relative ones inside the remote user's home.
    public static func path(_ path: String) -> String {
        path.hasPrefix("/") ? quoted(path) : "\"$HOME\"/" + quoted(path)
    }
}
