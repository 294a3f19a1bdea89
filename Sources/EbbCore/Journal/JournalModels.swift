import Foundation

/// The state of one undo record: `armed -> injected -> reverted | revert-failed | irreversible`.
public enum RecordState: String, Codable, Sendable, CaseIterable {
    case armed, injected, reverted
    case revertFailed = "revert-failed"
    case irreversible

    /// The fault may still be in place: its undo has not succeeded yet.
    public var isPending: Bool { self == .armed || self == .injected || self == .revertFailed }

    /// Whether a record in this state may be written with state `next`. The only moves are
    /// forward: `armed -> injected`, any pending state to an outcome, and a pending state to
    /// itself (a deadline renewed, a failed undo retried). Nothing leaves `reverted` or
    /// `irreversible`, so a late writer can never make a reverted fault look live or a live
    /// fault look reverted.
    public func canChange(to next: RecordState) -> Bool {
        switch (self, next) {
        case (.armed, .injected), (.injected, .injected), (.revertFailed, .revertFailed): return true
        case (.armed, _), (.injected, _), (.revertFailed, _): return next != .armed && next != .injected
        case (.reverted, _), (.irreversible, _): return false
        }
    }
}

/// One undo record: everything needed to take a fault back, from the journal alone.
public struct UndoRecord: Codable, Sendable {
    public var version = 1
    public var runID: String
    public var sequence: Int
    public var scenario: String
    public var fault: String
    public var plugin: String
    public var target: String
    /// The stable undo kind (see ``UndoHandler``).
    public var kind: String
    public var data: JSONValue
    public var state: RecordState
    public var armedAt: Date
    public var injectedAt: Date?
    public var finishedAt: Date?
    /// Nothing may stay injected past this moment (hold + rollback grace).
    public var deadline: Date
    public var attempts: Int = 0
    /// Why the undo failed, or why the fault is irreversible.
    public var message: String?
    /// Who ran the undo: `runner`, `rollback execute`, ...
    public var revertedBy: String?
    /// The plan's target locks (``FaultPlan/lockKeys``): records sharing one are undone newest
    /// first, one after another (see ``RollbackExecutor``). Absent in records of older builds.
    public var lockKeys: [String]?

    public init(
        runID: String, sequence: Int, scenario: String, fault: String, plugin: String, target: String,
        kind: String, data: JSONValue, state: RecordState, armedAt: Date, deadline: Date
    ) {
        self.runID = runID
        self.sequence = sequence
        self.scenario = scenario
        self.fault = fault
        self.plugin = plugin
        self.target = target
        self.kind = kind
        self.data = data
        self.state = state
        self.armedAt = armedAt
        self.deadline = deadline
    }

    /// The record's file name: `<seq>-<scenario>-<fault>.json`.
    public var fileName: String {
        String(sequence, zeroPaddedTo: 4) + "-\(Self.slug(scenario))-\(Self.slug(fault)).json"
    }

    /// The record's first version, as ``RecordStore`` creates its file: compact JSON on one line.
    /// Later versions are appended to the file as ``appendedVersion()`` (see ``latest(in:)``).
    func encoded() throws -> Data {
        var record = self
        record.message = message.map(SecretRedactor.shared.redact)  // a message may quote command output
        return try JSONEncoder.journalRecord.encode(record)
    }

    /// A later version of the record, as appended to its file: a new line, then the record.
    func appendedVersion() throws -> Data {
        Data([UInt8(ascii: "\n")]) + (try encoded())
    }

    /// The latest complete version in the content of a record file, and whether an unfinished
    /// version follows it.
    ///
    /// A record file holds its versions oldest first, each starting on a line of its own with
    /// `{` (a record of an older build is one pretty-printed document: its nested objects are
    /// indented, so it is one version). Appending is the only change after a file is created,
    /// so only the last version can be cut short (a crash in mid-write; on a file system
    /// without a journal, also zeros past the last complete byte; or a reader that came while
    /// it was being written): then the version before it is the record, as the previous file
    /// was when records were replaced by rename.
    public static func latest(in data: Data) throws -> (record: UndoRecord, unfinishedTail: Bool) {
        var bytes = data[...]
        var zeros = false
        while let last = bytes.last, last == 0 || last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") {
            zeros = zeros || last == 0
            bytes = bytes.dropLast()
        }
        let start = lastVersionStart(in: bytes)
        do {
            return (try decodeChecked(Data(bytes[start...])), zeros)
        } catch DecodingError.dataCorrupted(let context) where start > bytes.startIndex {
            // Not JSON: a line cut short (any part of a JSON object short of its end is not
            // JSON). A complete line with a bad field is damage, reported as such.
            let earlier = bytes[..<(start - 1)]
            do {
                return (try decodeChecked(Data(earlier[lastVersionStart(in: earlier)...])), true)
            } catch {
                throw DecodingError.dataCorrupted(context)
            }
        }
    }

    /// Where the last version in `bytes` starts: after the last newline that a `{` follows.
    private static func lastVersionStart(in bytes: Data.SubSequence) -> Data.Index {
        bytes.withUnsafeBytes { buffer in
            var offset = buffer.count
            while offset > 1 {
                offset -= 1
                if buffer[offset] == UInt8(ascii: "{"), buffer[offset - 1] == UInt8(ascii: "\n") {
                    return bytes.startIndex + offset
                }
            }
            return bytes.startIndex
        }
    }

    /// `text` with every character but ASCII letters, digits, `.` and `_` replaced by `_`, at
    /// most 60 characters. Record file names come from it, so it must never change; it is
    /// computed on every read and write of a record, so it builds no set.
    static func slug(_ text: String) -> String {
        // Plain ASCII (the usual name) byte by byte: the same result, without the grapheme
        // breaking of Characters. "\r\n" is one Character, so a carriage return takes the long way.
        if text.utf8.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "\r") }) {
            return String(
                decoding: text.utf8.prefix(60).map { byte in
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"):
                        byte
                    default: UInt8(ascii: "_")
                    }
                }, as: UTF8.self)
        }
        return String(
            text.prefix(60).map { character in
                (character.isASCII && (character.isLetter || character.isNumber)) || character == "."
                    || character == "_" ? character : "_"
            })
    }
}

/// Whether a run is still open or how it ended.
public enum RunStatus: String, Codable, Sendable {
    /// The runner is working, or died without closing (see ``RunSnapshot/isLive``).
    case open
    case closed
    /// A dead run whose records were executed afterwards and all verified.
    case crashedRecovered = "crashed-recovered"
    /// A dead run whose recovery left something unverified.
    case crashedDirty = "crashed-dirty"
}

/// `run.json`: who ran, where and when.
public struct RunInfo: Codable, Sendable {
    public var version = 1
    public var id: String
    public var pid: Int32
    /// With `pid`, identifies the runner process even if the pid is reused.
    public var pidStartTime: UInt64?
    public var host: String
    /// With `host`, the machine the run's pids and paths belong to (see ``HostIdentity``).
    public var machineID: String?
    public var suites: [String]
    public var startedAt: Date
    public var status: RunStatus
    public var closedAt: Date?
    public var recoveredBy: String?
    /// The guardian watching this run (absent with `--no-guardian`).
    public var guardianPID: Int32?
    /// The run directory in the state directory (the journal proper).
    public var journal: String?
    /// The run's copy in the host registry (see ``HostRegistry``); nil without one.
    public var registry: String?
    /// True when, as the run was closed or recovered, every record was reverted or irreversible
    /// (none pending, damaged or half-written). Records only move forward, so such a run never
    /// needs recovery again, and the readers that look for runs to recover skip its records:
    /// without this, every `ebb run` would decode every record of every earlier run.
    public var settled: Bool?

    /// The machine this run was recorded on.
    public var hostIdentity: HostIdentity { HostIdentity(hostname: host, machineID: machineID) }

    /// Writes `run.json` durably into `runDirectory`, and into the run's registry copy while
    /// that exists (it is removed once the run is settled and never brought back), both with
    /// one commit (see ``DurableFile/write(_:syncingDirectories:)``).
    public func write(into runDirectory: URL) throws {
        let data = try JSONEncoder.journal.encode(self)
        var files = [(data: data, path: runDirectory.appending(path: "run.json").path)]
        if let registry,
            URL(fileURLWithPath: registry).standardizedFileURL.path != runDirectory.standardizedFileURL.path,
            FileManager.default.fileExists(atPath: registry)
        {
            files.append((data, URL(fileURLWithPath: registry).appending(path: "run.json").path))
        }
        try DurableFile.write(files)
    }
}

extension JSONEncoder {
    /// The encoder the journal writes with: sorted keys, ISO 8601 dates with milliseconds.
    public static var journal: JSONEncoder {
        let encoder = journalRecord
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }

    /// As ``journal``, on one line: each version of an undo record is one line of its file.
    static var journalRecord: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(UTCTime.string(date))
        }
        return encoder
    }
}

extension JSONDecoder {
    public static var journal: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = UTCTime.date(text) { return date }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)"))
        }
        return decoder
    }
}
