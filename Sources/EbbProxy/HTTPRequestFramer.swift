import Foundation
import NIOCore

/// Finds where HTTP/1.1 requests start and end in a client's byte stream, so `proxy.http` can
/// act on whole requests while everything else passes byte for byte. It reads request heads and
/// `Content-Length` bodies only: a stream that is not HTTP, or a request with a chunked body,
/// turns it off for the rest of the connection (those bytes then pass untouched).
///
/// Bytes of an unfinished head are held back only while `holding` (an HTTP rule is active) and
/// only while they can still be the start of a request line; otherwise they pass at once and the
/// framer merely keeps count.
struct HTTPRequestFramer {
    /// A piece of the stream: part of one request, or opaque bytes.
    struct Segment {
        var bytes: ByteBuffer
        /// Set on the segment that completes a request's head, when none of the head has passed yet.
        var request: (method: String, path: String)?
        /// The request ends with this segment.
        var endsRequest = false
        /// No rule may act on these bytes (not HTTP, a chunked body, or a head that partly passed).
        var isOpaque = false
    }

    private enum State {
        /// A head being read; `passed` of its bytes have already been let through.
        case head(ByteBuffer, passed: Int)
        case body(remaining: Int)
        case opaque
    }

    /// Heads larger than this are not HTTP as far as the proxy is concerned.
    static let maximumHeadSize = 64 * 1024
    private var state = State.head(ByteBuffer(), passed: 0)

    /// Splits `input` into segments.
    mutating func split(_ input: ByteBuffer, holding: Bool) -> [Segment] {
        var input = input
        var segments: [Segment] = []
        while input.readableBytes > 0 {
            switch state {
            case .opaque:
                segments.append(Segment(bytes: input, isOpaque: true))
                return segments
            case .body(let remaining):
                let count = min(remaining, input.readableBytes)
                let piece = input.readSlice(length: count)!
                state = remaining == count ? .head(ByteBuffer(), passed: 0) : .body(remaining: remaining - count)
                segments.append(Segment(bytes: piece, endsRequest: remaining == count))
            case .head(var head, let passed):
                let before = head.readableBytes
                head.writeImmutableBuffer(input)
                guard let end = Self.endOfHead(head) else {
                    input = ByteBuffer()
                    guard head.readableBytes <= Self.maximumHeadSize, Self.couldStartRequest(head) else {
                        state = .opaque
                        segments.append(
                            Segment(
                                bytes: head.getSlice(
                                    at: head.readerIndex + passed, length: head.readableBytes - passed)!, isOpaque: true
                            ))
                        return segments
                    }
                    if holding && passed == 0 {
                        state = .head(head, passed: 0)
                    } else {
                        segments.append(
                            Segment(
                                bytes: head.getSlice(
                                    at: head.readerIndex + passed, length: head.readableBytes - passed)!, isOpaque: true
                            ))
                        state = .head(head, passed: head.readableBytes)
                    }
                    return segments
                }
                // The rest of `input` after the head's end goes round the loop again.
                input.moveReaderIndex(forwardBy: end - before)
                let whole = head.getSlice(at: head.readerIndex, length: end)!
                let unsent = whole.getSlice(at: whole.readerIndex + passed, length: end - passed)!
                guard let parsed = Self.parse(whole) else {
                    state = .opaque
                    segments.append(Segment(bytes: unsent, isOpaque: true))
                    continue
                }
                if parsed.chunked {
                    state = .opaque
                    segments.append(Segment(bytes: unsent, isOpaque: true))
                } else {
                    state =
                        parsed.contentLength > 0
                        ? .body(remaining: parsed.contentLength) : .head(ByteBuffer(), passed: 0)
                    segments.append(
                        Segment(
                            bytes: unsent, request: passed == 0 ? (parsed.method, parsed.path) : nil,
                            endsRequest: parsed.contentLength == 0, isOpaque: passed > 0))
                }
            }
        }
        return segments
    }

    /// The length of the head including its blank line, if it is complete.
    private static func endOfHead(_ buffer: ByteBuffer) -> Int? {
        let view = buffer.readableBytesView
        guard view.count >= 4 else { return nil }
        var index = view.startIndex
        while index + 3 < view.endIndex {
            if view[index] == 13, view[index + 1] == 10, view[index + 2] == 13, view[index + 3] == 10 {
                return index + 4 - view.startIndex
            }
            index += 1
        }
        return nil
    }

    /// Whether `bytes` can still grow into `METHOD SP target SP HTTP/1.x`: an upper-case
    /// method, then a target, before the first line ends.
    private static func couldStartRequest(_ bytes: ByteBuffer) -> Bool {
        let view = bytes.readableBytesView
        var sawMethod = false
        for byte in view {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\r") { return sawMethod }
            guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) else { return false }
            sawMethod = true
        }
        return true
    }

    private static func parse(_ head: ByteBuffer) -> (method: String, path: String, contentLength: Int, chunked: Bool)?
    {
        let lines = String(decoding: head.readableBytesView, as: UTF8.self).split(
            separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.first?.split(separator: " ") ?? []
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1."), requestLine[0].allSatisfy({ $0.isUppercase })
        else { return nil }
        var contentLength = 0
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let length = Int(value), length >= 0 else { return nil }
                contentLength = length
            } else if name == "transfer-encoding" {
                chunked = true
            }
        }
        let path =
            requestLine[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
            ?? "/"
        return (String(requestLine[0]), path, contentLength, chunked)
    }
}
