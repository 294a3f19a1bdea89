import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// ISO 8601 timestamps in UTC (`2026-12-07T02:34:00.123Z`), the form of every date in the
/// journal, the logs and the reports, written and read with the C library's UTC arithmetic
/// (`gmtime_r`, `timegm`). Written by hand because Foundation's `ISO8601FormatStyle` builds a
/// calendar in the machine's time zone on first use, and that loads ICU's time-zone data even
/// for UTC: about 2 ms and 3 MiB of a 1-fault run, paid by every process that writes a record.
public enum UTCTime {
    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, or without the milliseconds. Milliseconds are
    /// rounded to the nearest, so that a stamp read back and written again is the same text.
    public static func string(_ date: Date, fractionalSeconds: Bool = true) -> String {
        let interval = date.timeIntervalSince1970
        let totalMillis = interval.isFinite ? Int64((interval * 1000).rounded()) : 0
        let millis = totalMillis - floorDivision(totalMillis, 1000) * 1000
        var time = time_t(floorDivision(totalMillis, 1000))
        var parts = tm()
        gmtime_r(&time, &parts)
        // Four digits; no clock Ebb trusts leaves years 0 to 9999 (records are checked to 2200).
        let year = min(max(Int(parts.tm_year) + 1900, 0), 9999)
        // One buffer, one string: every date of every journal record written comes through here.
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func append(_ value: Int, digits: Int, then separator: Character?) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
            if let separator { text.append(separator.asciiValue!) }
        }
        append(year, digits: 4, then: "-")
        append(Int(parts.tm_mon) + 1, digits: 2, then: "-")
        append(Int(parts.tm_mday), digits: 2, then: "T")
        append(Int(parts.tm_hour), digits: 2, then: ":")
        append(Int(parts.tm_min), digits: 2, then: ":")
        append(Int(parts.tm_sec), digits: 2, then: fractionalSeconds ? "." : "Z")
        if fractionalSeconds { append(Int(millis), digits: 3, then: "Z") }
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any length, and `Z` or an offset
    /// (`+02:00`, `+0200`); nil for anything else.
    public static func date(_ text: String) -> Date? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.number(4), scanner.skip("-"), let month = scanner.number(2), scanner.skip("-"),
            let day = scanner.number(2), scanner.skip("T"), let hour = scanner.number(2), scanner.skip(":"),
            let minute = scanner.number(2), scanner.skip(":"), let second = scanner.number(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if scanner.skip(".") {
            var scale = 0.1
            var digits = 0
            while let digit = scanner.number(1) {
                fraction += Double(digit) * scale
                scale /= 10
                digits += 1
            }
            guard digits > 0 else { return nil }
        }
        var offset = 0
        if !scanner.skip("Z") {
            let sign: Int
            if scanner.skip("+") { sign = 1 } else if scanner.skip("-") { sign = -1 } else { return nil }
            guard let hours = scanner.number(2) else { return nil }
            _ = scanner.skip(":")
            guard let minutes = scanner.number(2), hours < 24, minutes < 60 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard scanner.atEnd else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        // timegm normalises an impossible date (February 30th) instead of refusing it.
        guard parts.tm_mday == Int32(day), parts.tm_mon == Int32(month - 1) else { return nil }
        return Date(timeIntervalSince1970: Double(Int(seconds) - offset) + fraction)
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }

    /// Reads ASCII fields left to right.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }

        /// A number of exactly `digits` decimal digits.
        mutating func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + digits] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += digits
            return value
        }
    }
}
