/// A problem in a suite file, located by file, line, column and key so an editor can jump to it.
public struct SuiteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// The dotted path of the offending key, e.g. `scenarios[0].faults[1].process.pause.pid`.
    public var key: String
    public var message: String

    /// `message` is kept printable and bounded (see ``Excerpt``): whatever value or file
    /// content it quotes, an error never echoes more than a short part of it.
    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = Excerpt.of(key, limit: 200)
        self.message = Excerpt.of(message, limit: 400)
    }

    public var description: String { "\(file):\(line):\(column): error: \(key): \(message)" }
}

/// Every problem found in one or more suites; loading reports them all at once rather than one per try.
public struct SuiteErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [SuiteError]
    public init(_ errors: [SuiteError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Problems collected while reading a suite, so that one mistake does not hide the next;
/// thrown together, in file order.
public struct SuiteProblems {
    public private(set) var errors: [SuiteError] = []
    /// How an error that is not a ``SuiteError`` is placed in the file.
    private let place: (any Error) -> SuiteError

    public init(placingOthers place: @escaping (any Error) -> SuiteError) {
        self.place = place
    }

    public var isEmpty: Bool { errors.isEmpty }

    public mutating func add(_ error: SuiteError) { errors.append(error) }
    public mutating func add(_ more: [SuiteError]) { errors += more }

    /// The value of `body`, or nil with its errors kept.
    public mutating func collect<T>(_ body: () throws -> T) -> T? {
        do { return try body() } catch let error as SuiteError {
            errors.append(error)
        } catch let error as SuiteErrors {
            errors += error.errors
        } catch {
            errors.append(place(error))
        }
        return nil
    }

    public func throwIfAny() throws {
        guard !errors.isEmpty else { return }
        throw SuiteErrors(errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }
}

/// Suggests the closest known word for a misspelt key ("did you mean ...").
enum Spelling {
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(
                    previous[j] + 1, current[j - 1] + 1,
                    previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
