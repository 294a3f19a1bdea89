import Crypto
import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// This very ebb binary, shipped once to each host under a content-addressed path
/// (`~/.cache/ebb/<sha256>/ebb`), so the whole local catalog acts remotely and two
/// versions of Ebb on one host never overwrite each other.
enum RemoteBinary {
    /// The SHA-256 of the running binary, computed once per process.
    static let digest: Result<String, Error> = Result {
        let path = ChildProcess.currentExecutable
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FaultError(description: "cannot read \(path) to ship it to remote hosts")
        }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The binary's path on a host, relative to the remote user's home.
    static func remotePath(digest: String) -> String { ".cache/ebb/\(digest)/ebb" }

    /// Makes sure the host has this binary; copies it (checked against its digest before it
    /// is put in place, so a cut copy is never run) when it has not. The copy is linked into
    /// place, never renamed over: an agent of another run (or of another host on a shared home)
    /// may already run the file at that path, and replacing it under a running agent leaves
    /// its /proc/self/exe "(deleted)", so it could no longer start its guardian.
    static func ensure(on ssh: SSHCommand) throws -> String {
        let digest = try digest.get()
        let path = remotePath(digest: digest)
        let target = Shell.path(path)
        let present = try ssh.run("test -x \(target) && echo present || echo missing", timeout: .seconds(20))
        if present.output.contains("present") { return path }
        let source = ChildProcess.currentExecutable
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw systemError("cannot open", source) }
        defer { close(input) }
        let script =
            "p=\(target); t=\"$p.$$\"; mkdir -p \"${p%/*}\" && cat > \"$t\" && "
            + "[ \"$(sha256sum < \"$t\" | cut -d' ' -f1)\" = \(digest) ] && chmod 755 \"$t\" && "
            // ln fails when the file is there already (a concurrent copy won: same content); mv
            // only where the file system has no hard links.
            + "{ ln \"$t\" \"$p\" 2>/dev/null || [ -x \"$p\" ] || mv \"$t\" \"$p\"; } && rm -f \"$t\" && echo shipped "
            + "|| { rm -f \"$t\"; echo 'the copy of ebb did not arrive whole' >&2; exit 1; }"
        let shipped = try ssh.run(script, timeout: .seconds(300), input: input)
        guard shipped.status == 0, shipped.output.contains("shipped") else {
            throw RemoteHostError(
                host: ssh.host, problem: "cannot copy ebb to \(path): \(Excerpt.of(shipped.output, limit: 300))")
        }
        return path
    }
}
