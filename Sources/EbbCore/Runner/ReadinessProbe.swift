import AsyncHTTPClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One probe of a fixture's `ready:` condition, from the machine the fixture runs on.
public enum ReadinessProbe {
    /// Probes `condition`; a `command` runs in `directory`.
    public static func probe(_ condition: Readiness.Condition, directory: String?) async -> ReadinessAnswer {
        switch condition {
        case .http(let url):
            do {
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: url.absoluteString), timeout: .seconds(2))
                let status = Int(response.status.code)
                // Read to the end, so the shared client can reuse the connection.
                _ = try await response.body.collect(upTo: 1 << 20)
                return (200..<300).contains(status) ? .ready : .notReady("HTTP \(status)")
            } catch {
                return .notReady("\(error)")
            }
        case .tcp(let host, let port):
            return TCPConnect.attempt(host: host, port: port)
        case .command(let arguments):
            return await Blocking.perform {
                do {
                    let result = try ChildProcess.run(arguments, timeout: .seconds(5), directory: directory)
                    guard result.status != 0 else { return .ready }
                    let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    return .notReady(
                        "\(arguments[0]) exited with status \(result.status)"
                            + (output.isEmpty ? "" : ": \(output.suffix(200))"))
                } catch {
                    return .notReady("\(error)")
                }
            }
        }
    }
}

/// One TCP connect attempt, for readiness checks.
enum TCPConnect {
    static func attempt(host: String, port: UInt16) -> ReadinessAnswer {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return .notReady("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .notReady(systemError("socket").description) }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .notReady(systemError("connect", "\(host):\(port)").description)
        }
        return .ready
    }
}
