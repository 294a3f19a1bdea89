import EbbCore
import EbbKubernetes
import Foundation

/// What Ebb writes on every Kubernetes object it creates or changes, so that a sweep can revert
/// the change with no journal at all (the runner, its guardian and the workspace may all be gone):
///
/// - label `ebb.dev/run=<run id>`: found with one label selector per kind;
/// - annotation `ebb.dev/expires-at` (RFC 3339, UTC): the fault's deadline, hold + grace;
/// - annotation `ebb.dev/undo`: the minimal JSON its undo needs (``SweepMark``).
///
/// The normal undo removes all three in the same write that takes the fault back.
struct SweepMark: Codable, Sendable, Equatable {
    static let runLabel = "ebb.dev/run"
    static let expiresAt = "ebb.dev/expires-at"
    static let undo = "ebb.dev/undo"

    /// The undo kind, as in the journal record (`k8s.scale-restore`, ...).
    var kind: String
    /// The record's sequence number in its run, for reports.
    var sequence: Int
    var scenario: String
    var injectedAt: Date
    /// The part of the undo payload the object itself does not tell: the original replicas,
    /// selector, cordon state. Where the object is and which cluster come from the sweep.
    var data: JSONValue

    enum CodingKeys: String, CodingKey {
        case kind, sequence = "seq", scenario, injectedAt = "at", data
    }

    init<Data: Encodable>(kind: String, context: FaultContext, data: Data) throws {
        self.kind = kind
        sequence = context.sequence
        scenario = context.scenario
        injectedAt = Date()
        self.data = try JSONValue(encoding: data)
    }

    /// The merge-patch `metadata` fields that mark an object with `mark` for run `runID` until
    /// `expiry`, or (with nil) remove every such field, together with the fault's own
    /// annotation `key` (`ebb.dev/scaled-by`, ...), which stays for journals written before.
    static func metadata(_ key: String, runID: String, mark: (SweepMark, expiry: Date)?) -> [String: JSONValue] {
        guard let (mark, expiry) = mark else {
            return ["labels": [runLabel: .null], "annotations": [key: .null, expiresAt: .null, undo: .null]]
        }
        var annotations = mark.annotations(expiry: expiry)
        annotations[key] = .string(runID)
        return ["labels": [runLabel: .string(runID)], "annotations": .object(annotations)]
    }

    /// The annotations `ebb.dev/expires-at` and `ebb.dev/undo` for this mark.
    func annotations(expiry: Date) -> [String: JSONValue] {
        [Self.expiresAt: .string(Self.timestamp(expiry)), Self.undo: .string(text)]
    }

    /// Moves the expiry on the object at `path` to `expiry` if the object still carries run
    /// `runID`'s mark and an earlier expiry; conditional on its version. A gone object is fine.
    static func extend(_ path: String, runID: String, to expiry: Date, with client: KubeClient) throws {
        let wanted = timestamp(expiry)
        do {
            try client.update(path) { object in
                guard object.value(at: "metadata.labels")?[runLabel]?.stringValue == runID,
                    let current = KubeOwnership.annotation(object, expiresAt).flatMap(date), let target = date(wanted),
                    current < target
                else { return nil }
                return ["metadata": ["annotations": [expiresAt: .string(wanted)]]]
            }
        } catch let error as KubeAPIError where error.status == 404 {
            return
        }
    }

    /// Compact JSON for the annotation.
    var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The mark of an annotation text; nil when it is not one Ebb wrote.
    init?(text: String) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let mark = try? decoder.decode(SweepMark.self, from: Data(text.utf8)) else { return nil }
        self = mark
    }

    /// RFC 3339 in UTC, rounded *up* to the second: the expiry is never earlier than the deadline.
    static func timestamp(_ date: Date) -> String {
        UTCTime.string(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.up)), fractionalSeconds: false)
    }

    static func date(_ text: String) -> Date? {
        UTCTime.date(text)
    }

    /// Whether `text` has the form of an Ebb run id (8 lowercase hex digits).
    static func isRunID(_ text: String) -> Bool {
        text.count == 8 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
