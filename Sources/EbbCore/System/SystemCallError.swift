import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, described as `<operation> <path>: <strerror>`, or `<operation>:
/// <strerror>` without a path. Make it right after the call fails, before anything else can
/// change `errno`. The operation may be a phrase (`cannot open the target lock`).
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String?
    /// The `errno` of the failed call.
    public var code: Int32

    public init(operation: String, path: String? = nil, errno code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// The C library's text for `code`, e.g. `No such file or directory`.
    public var reason: String { Self.reason(errno: code) }

    public var description: String {
        guard let path else { return "\(operation): \(reason)" }
        return "\(operation) \(path): \(reason)"
    }

    /// The C library's text for an errno value (by default, the current one).
    public static func reason(errno code: Int32 = errno) -> String { String(cString: strerror(code)) }
}

/// The error of the system call that just failed: `systemError("open", path)` reads
/// `open /srv/app.conf: Permission denied`.
public func systemError(_ operation: String, _ path: String? = nil, errno code: Int32 = errno) -> SystemCallError {
    SystemCallError(operation: operation, path: path, errno: code)
}
