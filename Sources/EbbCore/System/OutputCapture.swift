import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An anonymous in-memory file (`memfd_create(2)`) that a child process writes its output to,
/// given to the child as its stdout and stderr. Where the kernel or C library has no memfd, it
/// falls back to a file in the temp folder, removed when the capture ends.
final class OutputCapture {
    /// The file, for the child to write to (its offset shared with the child's descriptors).
    let descriptor: Int32
    /// Its name in the file system, where it has one.
    private let path: String?

    init() throws {
        if let create = Self.memfdCreate, case let fd = create("ebb-output", 1 /* MFD_CLOEXEC */), fd >= 0 {
            descriptor = fd
            path = nil
            return
        }
        let template = FileManager.default.temporaryDirectory.appending(path: "ebb-command-XXXXXX").path
        var bytes = Array(template.utf8CString)
        let fd = mkstemp(&bytes)
        guard fd >= 0 else {
            throw ChildProcess.Failure(
                description: systemError("cannot create a file for a command's output").description)
        }
        let name = String(cString: bytes)
        descriptor = fd
        path = name
    }

    /// The last `limit` bytes written.
    func tail(_ limit: Int) -> Data {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return Data() }
        let size = Int(info.st_size)
        let start = max(0, size - limit)
        var data = Data(count: size - start)
        let read = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, size - start, off_t(start)) }
        return read > 0 ? data.prefix(read) : Data()
    }

    deinit {
        close(descriptor)
        if let path { unlink(path) }
    }

    /// glibc's `memfd_create`, looked up at run time: Swift's Glibc module does not declare it.
    private typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32
    private static let memfdCreate: MemfdCreate? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create") else { return nil }
        return unsafeBitCast(symbol, to: MemfdCreate.self)
    }()
}
