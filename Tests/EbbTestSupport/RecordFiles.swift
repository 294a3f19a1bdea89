import EbbCore
import Foundation

/// The record an undo record file holds now (its latest complete version, see
/// ``UndoRecord/latest(in:)``), as a JSON object with the journal's field names, for tests that
/// look at records the way a person reading the journal would.
public func recordObject(inFile url: URL) throws -> [String: Any]? {
    let record = try UndoRecord.latest(in: Data(contentsOf: url)).record
    return try JSONSerialization.jsonObject(with: JSONEncoder.journal.encode(record)) as? [String: Any]
}
