import EbbCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file's extended attributes (`user.*`, `security.*` such as file capabilities, and the
/// POSIX ACLs `system.posix_acl_access`), read and written through an open descriptor.
/// Glibc's Swift module does not declare <sys/xattr.h>, so the calls are looked up at run time.
enum ExtendedAttributes {
    /// Every attribute of the file open at `fd`, values base64-encoded (for the undo record).
    static func read(_ fd: Int32) -> [String: String] {
        guard let list = listFunction, let get = getFunction else { return [:] }
        let size = list(fd, nil, 0)
        guard size > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: size)
        let count = list(fd, &names, size)
        guard count > 0 else { return [:] }
        var result: [String: String] = [:]
        for raw in names.prefix(count).split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let length = get(fd, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(length, 1))
            let read = get(fd, name, &value, value.count)
            guard read >= 0 else { continue }
            result[name] = Data(value.prefix(read)).base64EncodedString()
        }
        return result
    }

    /// Sets `attributes` on the file open at `fd`; returns those it could not set, with why.
    static func write(_ attributes: [String: String], to fd: Int32) -> [String] {
        guard !attributes.isEmpty else { return [] }
        guard let set = setFunction else { return ["all extended attributes (this C library has no fsetxattr)"] }
        var failed: [String] = []
        for (name, encoded) in attributes.sorted(by: { $0.key < $1.key }) {
            let value = [UInt8](Data(base64Encoded: encoded) ?? Data())
            if set(fd, name, value, value.count, 0) != 0 { failed.append("\(name) (\(SystemCallError.reason()))") }
        }
        return failed
    }

    /// The value of attribute `name` of the file open at `fd`; nil when it has none.
    static func value(_ name: String, of fd: Int32) -> Data? {
        guard let get = getFunction else { return nil }
        let length = get(fd, name, nil, 0)
        guard length >= 0 else { return nil }
        var value = [UInt8](repeating: 0, count: max(length, 1))
        let read = get(fd, name, &value, value.count)
        return read >= 0 ? Data(value.prefix(read)) : nil
    }

    /// Sets attribute `name` of the file open at `fd` to `value`; throws why it could not.
    static func set(_ name: String, to value: Data, on fd: Int32) throws {
        guard let set = setFunction else { throw FaultError(description: "this C library has no fsetxattr") }
        let bytes = [UInt8](value)
        guard set(fd, name, bytes, bytes.count, 0) == 0 else {
            throw FaultError(description: "setxattr \(name): \(SystemCallError.reason())")
        }
    }

    /// Names of `expected` attributes the file open at `fd` lacks or holds with another value.
    static func missing(_ expected: [String: String], on fd: Int32) -> [String] {
        let now = read(fd)
        return expected.keys.sorted().filter { now[$0] != expected[$0] }
    }

    private typealias List = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    private typealias Get = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private typealias Set = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private static let listFunction: List? = lookUp("flistxattr")
    private static let getFunction: Get? = lookUp("fgetxattr")
    private static let setFunction: Set? = lookUp("fsetxattr")

    private static func lookUp<Function>(_ name: String) -> Function? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }
}
