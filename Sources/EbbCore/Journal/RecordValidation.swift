import Foundation

/// A record whose content is out of any range Ebb writes: reported as damaged, never executed.
public struct DamagedRecord: Error, CustomStringConvertible {
    public var description: String
}

extension UndoRecord {
    /// Decodes a record and checks that every number in it is one Ebb could have written.
    /// A hand-edited or corrupted record with a huge sequence, attempt count, date or payload
    /// number would otherwise overflow later arithmetic (a crash in the middle of recovery).
    public static func decodeChecked(_ data: Data) throws -> UndoRecord {
        let record = try JSONDecoder.journal.decode(UndoRecord.self, from: data)
        try record.validate()
        return record
    }

    /// Throws ``DamagedRecord`` when a field is outside the range Ebb writes.
    public func validate() throws {
        guard version == 1 else { throw DamagedRecord(description: "unknown record version \(version)") }
        guard (1...9_999_999).contains(sequence) else {
            throw DamagedRecord(description: "sequence \(sequence) is out of range")
        }
        guard (0...1_000_000).contains(attempts) else {
            throw DamagedRecord(description: "attempts \(attempts) is out of range")
        }
        guard !kind.isEmpty else { throw DamagedRecord(description: "the undo kind is empty") }
        // Dates from 1970 to 2200: enough for any clock; outside, date arithmetic misbehaves.
        let sane = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 7_258_118_400)
        for (name, date) in [
            ("armedAt", armedAt), ("deadline", deadline), ("injectedAt", injectedAt), ("finishedAt", finishedAt),
        ] {
            if let date, !sane.contains(date) { throw DamagedRecord(description: "\(name) \(date) is out of range") }
        }
        if let problem = Self.unrepresentableNumber(in: data, at: "data") { throw DamagedRecord(description: problem) }
    }

    /// Payload numbers are doubles: beyond 2^53 an integer (a pid, an inode, a count of seconds)
    /// is no longer exact, so no number Ebb writes is that large; such a value is damage.
    static func unrepresentableNumber(in value: JSONValue, at path: String) -> String? {
        switch value {
        case .number(let number):
            return number.isFinite && abs(number) <= 9_007_199_254_740_992
                ? nil : "\(path) holds \(number), out of range"
        case .array(let items):
            return items.enumerated().lazy.compactMap { unrepresentableNumber(in: $1, at: "\(path)[\($0)]") }.first
        case .object(let fields):
            return fields.sorted { $0.key < $1.key }.lazy.compactMap {
                unrepresentableNumber(in: $1, at: "\(path).\($0)")
            }.first
        case .null, .bool, .string:
            return nil
        }
    }
}
