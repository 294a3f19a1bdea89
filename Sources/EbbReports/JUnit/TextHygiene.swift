/// Makes arbitrary process output safe to put in a JUnit file.
///
/// Chaos steps capture output from tools that colour, draw progress bars and occasionally
/// write binary garbage. One ESC byte (0x1B), raw or as `&#27;`, makes the whole file
/// unreadable for every XML parser, even inside CDATA, and one huge text node makes libxml2
/// (10 MB per node) and GitLab (30 MB per file) reject it. So every attribute and text node
/// goes through here.
public enum TextHygiene {
    /// Removes characters illegal in XML 1.0 (keep \t \n \r and valid ranges), strips ANSI escape sequences (CSI `ESC [ ... final byte`, OSC `ESC ] ... BEL/ST`, and lone ESC), splits "]]>" so it cannot end CDATA, and truncates keeping head and tail.
    ///
    /// Details:
    /// - Besides the characters XML 1.0 forbids (C0 controls other than tab, LF, CR, and
    ///   U+FFFE/U+FFFF), DEL and the C1 controls U+0080–U+009F are removed too: XML 1.0
    ///   discourages them and U+009B is a one-character CSI that terminals act on.
    /// - Escape sequences removed: CSI, the string sequences OSC/DCS/SOS/PM/APC (ended by
    ///   BEL or ST; one still open at the end of the text is dropped, one that stays open for
    ///   more than 4 KiB loses only its `ESC ]`), charset designations such as `ESC ( B`
    ///   (from `tput sgr0`), two-byte escapes such as `ESC 7`, and any other ESC alone.
    /// - When the cleaned text is longer than `limit` UTF-8 bytes, its head and tail are
    ///   kept (never cutting a character) and the middle is replaced by
    ///   `... [N bytes omitted] ...`, where N counts the bytes of `text` that are not shown.
    ///   The result is at most `limit` bytes unless `limit` is smaller than that marker.
    ///   Only head and tail windows of a huge text are examined, so cleaning 50 MB costs
    ///   about as much as cleaning `limit` bytes.
    /// - Last, every `]]>` becomes `]]]]><![CDATA[>`: the result is meant to be written raw
    ///   inside a CDATA section, where that reads back as `]]>`. (Each split adds 12 bytes
    ///   after the limit was applied.) Text written escaped, such as attributes, needs no split.
    public static func clean(_ text: String, limit: Int) -> String {
        cdataSafe(sanitized(text, limit: limit, fullLog: nil))
    }

    /// `clean` without the CDATA split, for attributes and escaped text; `fullLog`, when
    /// given, is named in the truncation marker so a reader knows where the middle went.
    static func sanitized(_ text: String, limit: Int, fullLog: String? = nil) -> String {
        var text = text
        let marker = fullLog.map { sanitized($0, limit: 1024) }
        // `withUTF8` gives contiguous UTF-8 (copying only a bridged, non-native string), which
        // the byte-level scanner below needs; a native Swift string is always valid UTF-8.
        let bytes = text.withUTF8 { Scrubber.clean($0, limit: max(0, limit), fullLog: marker) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Splits every `]]>` across two CDATA sections.
    static func cdataSafe(_ text: String) -> String {
        text.contains("]]>") ? text.replacing("]]>", with: "]]]]><![CDATA[>") : text
    }

    /// A short single-line summary for a `message` attribute: the first non-blank line of
    /// the cleaned text, tabs as spaces, cut to `maxBytes` with an ellipsis. CI viewers show
    /// the attribute in one-line lists; the whole text goes into the element body.
    static func singleLine(_ text: String, maxBytes: Int = 240) -> String {
        let cleaned = sanitized(text, limit: max(4 * maxBytes, 1024))
        let line =
            cleaned.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { String($0.map { $0 == "\t" ? " " : $0 }).trimmingSpaces() }
            .first { !$0.isEmpty } ?? ""
        guard line.utf8.count > maxBytes else { return line }
        var cut = ""
        for character in line {
            if cut.utf8.count + character.utf8.count > maxBytes - 3 { break }  // "…" is 3 bytes
            cut.append(character)
        }
        return cut + "…"
    }
}

private extension StringProtocol {
    /// Index arithmetic, not reversed views: the generic version cost half a millisecond of
    /// every run's reports (type metadata built on first use).
    func trimmingSpaces() -> String {
        guard let first = firstIndex(where: { $0 != " " }), let last = lastIndex(where: { $0 != " " }) else {
            return ""
        }
        return String(self[first...last])
    }
}

/// The byte-level work behind `TextHygiene`, on UTF-8 that is known to be valid (except at
/// the edges of a window cut out of it, which are handled).
enum Scrubber {
    /// How far a string sequence (OSC ...) is followed looking for its terminator.
    static let stringSequenceLimit = 4096
    /// How far from a window edge the scan can differ from a scan of the whole text: only a
    /// string sequence straddling the edge looks further than one byte ahead.
    static let edge = stringSequenceLimit + 16

    struct Result {
        var bytes: [UInt8] = []
        /// Where the scan stopped (the end, or the first character that did not fit `cap`).
        var stop = 0
        /// True when the scan stopped because the next character would exceed `cap`.
        var capped = false
        /// The output length when the scan passed `mark`.
        var outputAtMark = 0
    }

    static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    /// Cleans `b[from..<to]`: drops illegal characters and escape sequences, stopping before
    /// the first character that would make the output longer than `cap`.
    static func scrub(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int, cap: Int = .max, mark: Int = .max) -> Result
    {
        var result = Result()
        result.bytes.reserveCapacity(min(to - from, cap))
        var i = from
        var marked = false
        while i < to {
            if !marked && i >= mark {
                result.outputAtMark = result.bytes.count
                marked = true
            }
            let byte = b[i]
            if byte == 0x1B {
                i = skipEscape(b, at: i, end: to)
                continue
            }
            let length: Int
            switch byte {
            case 0x09, 0x0A, 0x0D, 0x20...0x7E: length = 1
            case 0x00...0x1F, 0x7F: i += 1; continue  // XML-illegal C0, and DEL
            case 0x80...0xBF: i += 1; continue  // a character cut by a window start
            case 0xC0...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            default: length = 4
            }
            guard i + length <= to else { break }  // a character cut by the window end
            if length == 2 && byte == 0xC2 && b[i + 1] < 0xA0 { i += 2; continue }  // C1 controls
            // U+FFFE, U+FFFF
            if length == 3 && byte == 0xEF && b[i + 1] == 0xBF && b[i + 2] >= 0xBE { i += 3; continue }
            if result.bytes.count + length > cap {
                result.capped = true
                break
            }
            result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<(i + length)]))
            i += length
        }
        result.stop = i
        if !marked { result.outputAtMark = result.bytes.count }
        return result
    }

    /// Returns the index after the escape sequence that starts with the ESC at `start`.
    static func skipEscape(_ b: UnsafeBufferPointer<UInt8>, at start: Int, end: Int) -> Int {
        var i = start + 1
        guard i < end else { return end }
        switch b[i] {
        case UInt8(ascii: "["):
            // CSI: parameter bytes 0x30–0x3F, intermediate bytes 0x20–0x2F, one final byte 0x40–0x7E.
            i += 1
            while i < end, (0x30...0x3F).contains(b[i]) { i += 1 }
            while i < end, (0x20...0x2F).contains(b[i]) { i += 1 }
            if i < end, (0x40...0x7E).contains(b[i]) { return i + 1 }
            // Malformed or cut off: drop what was sequence-like, keep the byte that broke it.
            return i
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "X"), UInt8(ascii: "^"), UInt8(ascii: "_"):
            // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
            i += 1
            let limit = min(end, i + stringSequenceLimit)
            while i < limit {
                if b[i] == 0x07 { return i + 1 }
                if b[i] == 0x1B {
                    // ST ends it; any other escape abandons it and is handled on its own.
                    return i + 1 < end && b[i + 1] == UInt8(ascii: "\\") ? i + 2 : i
                }
                i += 1
            }
            // Still open at the end of the text: the terminal would have swallowed the rest too.
            // Still open after the limit: probably not a sequence; drop only its introducer.
            return i == end ? end : start + 2
        case 0x20...0x2F:
            // nF escapes such as ESC ( B: intermediate bytes, then one final byte 0x30–0x7E.
            while i < end, (0x20...0x2F).contains(b[i]) { i += 1 }
            if i < end, (0x30...0x7E).contains(b[i]) { return i + 1 }
            return i
        case 0x30...0x7E:
            // Two-byte escapes: ESC 7, ESC 8, ESC M, ESC c, ESC =, ...
            return i + 1
        default:
            // A lone ESC (before a control, a space-less non-ASCII byte, ...).
            return start + 1
        }
    }

    static func marker(omitted: Int, fullLog: String?) -> [UInt8] {
        let text =
            fullLog.map { "\n... [\(omitted) bytes omitted, full log: \($0)] ...\n" }
            ?? "\n... [\(omitted) bytes omitted] ...\n"
        return Array(text.utf8)
    }

    /// Cleans and, if needed, truncates to `limit` bytes keeping head and tail.
    static func clean(_ b: UnsafeBufferPointer<UInt8>, limit: Int, fullLog: String?) -> [UInt8] {
        let total = b.count
        if total <= limit { return scrub(b, from: 0, to: total).bytes }
        // The marker's length with the largest possible count bounds the real one.
        let budget = max(0, limit - marker(omitted: total, fullLog: fullLog).count)
        let headBudget = budget - budget / 2
        let tailBudget = budget / 2

        func cleanWhole() -> [UInt8] {
            let whole = scrub(b, from: 0, to: total).bytes
            guard whole.count > limit else { return whole }
            var headEnd = min(headBudget, whole.count)
            while headEnd > 0 && headEnd < whole.count && isContinuation(whole[headEnd]) { headEnd -= 1 }
            var tailStart = max(whole.count - tailBudget, headEnd)
            while tailStart < whole.count && isContinuation(whole[tailStart]) { tailStart += 1 }
            let omitted = total - headEnd - (whole.count - tailStart)
            return Array(whole[..<headEnd]) + marker(omitted: omitted, fullLog: fullLog) + Array(whole[tailStart...])
        }

        // Moderately long text is cleaned whole: after removing escapes it may fit after all.
        if total <= 4 * limit + 65_536 { return cleanWhole() }

        // Huge text: clean a window at each end, widening it until the kept part lies far
        // enough from the window's inner edge to be what a whole-text scan would produce.
        var head: [UInt8]?
        var headStop = 0
        var window = headBudget + 65_536
        while window < total {
            let scan = scrub(b, from: 0, to: window, cap: headBudget)
            if scan.capped && scan.stop <= window - edge {
                head = scan.bytes
                headStop = scan.stop
                break
            }
            window *= 2
        }
        guard let head else { return cleanWhole() }

        var tail: [UInt8]?
        window = tailBudget + 65_536
        while window < total {
            var start = total - window
            while start < total && isContinuation(b[start]) { start += 1 }
            guard start >= headStop else { break }
            let scan = scrub(b, from: start, to: total, mark: start + edge)
            if scan.bytes.count - tailBudget >= scan.outputAtMark {
                var tailStart = scan.bytes.count - tailBudget
                while tailStart < scan.bytes.count && isContinuation(scan.bytes[tailStart]) { tailStart += 1 }
                tail = Array(scan.bytes[tailStart...])
                break
            }
            window *= 2
        }
        guard let tail else { return cleanWhole() }
        return head + marker(omitted: total - head.count - tail.count, fullLog: fullLog) + tail
    }
}
