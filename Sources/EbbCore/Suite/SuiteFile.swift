import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads suite and included files defensively: only regular files outside the kernel's
/// pseudo-filesystems, never more than ``maximumBytes``, opened so that a FIFO cannot block
/// the loader. Checked with `stat` before opening and with `fstat` after, so a file swapped
/// in between is caught too.
enum SuiteFile {
    /// Larger files are refused: a suite is hand-written configuration.
    static let maximumBytes = 1 << 20

    /// Why a file was not read; the text names the path, never the content.
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// `path` with every symlink resolved (`realpath(3)`), or nil when it does not resolve.
    static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is `root` or lies below it; both must be canonical.
    static func path(_ path: String, isInside root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// The text of the regular file at `path`.
    static func read(_ path: String) throws -> String {
        let canonical = canonicalPath(path) ?? path
        // /proc and /sys files claim to be regular files of size 0; they are never suites.
        if ["/proc", "/sys", "/dev"].contains(where: { Self.path(canonical, isInside: $0) }) {
            throw Refusal(description: "\(canonical) is a kernel or device file, not a suite file")
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw Refusal(description: systemError("cannot read", path).description) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Refusal(description: "\(path) is not a regular file") }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw Refusal(description: systemError("cannot open", path).description) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw Refusal(description: "\(path) is not a regular file")
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count <= maximumBytes {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Refusal(description: systemError("cannot read", path).description) }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        guard data.count <= maximumBytes else {
            throw Refusal(description: "\(path) is larger than \(maximumBytes / 1024 / 1024) MiB; a suite file is not")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Refusal(description: "\(path) is not UTF-8 text")
        }
        return text
    }
}
