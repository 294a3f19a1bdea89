import EbbCore

#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket address from getaddrinfo(3), kept as raw storage for bind(2) and connect(2).
struct ResolvedAddress {
    private var storage: sockaddr_storage
    private let length: socklen_t

    var family: Int32 { Int32(storage.ss_family) }

    /// Every TCP address `host` has, in the resolver's order (a name such as `localhost` may
    /// have an IPv6 and an IPv4 one). Blocks while a name is looked up.
    static func all(
        host: String, port: Int, forListening: Bool = false, numericOnly: Bool = false
    ) throws(SocketError) -> [ResolvedAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // No AI_ADDRCONFIG: in a namespace with loopback only it would leave `localhost` unresolved.
        hints.ai_flags = (forListening ? AI_PASSIVE : 0) | (numericOnly ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw SocketError("resolve \(host)", detail: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var addresses: [ResolvedAddress] = []
        for entry in sequence(first: list, next: { $0.pointee.ai_next }) {
            guard let address = entry.pointee.ai_addr else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { target in
                target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
            }
            addresses.append(ResolvedAddress(storage: storage, length: entry.pointee.ai_addrlen))
        }
        return addresses
    }

    /// The address when `host` is an IPv4 or IPv6 literal (no lookup, so it never blocks); nil for a name.
    static func numeric(host: String, port: Int) -> [ResolvedAddress]? {
        (try? all(host: host, port: port, numericOnly: true)).flatMap { $0.isEmpty ? nil : $0 }
    }

    func withSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
    }
}

/// A failed socket call: what was tried and the system's reason.
struct SocketError: Error, CustomStringConvertible {
    let description: String

    init(_ action: String, detail: String) { description = "\(action): \(detail)" }

    /// From the current `errno`.
    init(_ action: String, errno code: Int32 = errno) { self.init(action, detail: SystemCallError.reason(errno: code)) }
}
