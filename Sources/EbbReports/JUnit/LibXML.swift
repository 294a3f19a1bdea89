import CLibXML2
import EbbCore
import Foundation

/// Why a JUnit report could not be written, or a document or schema could not be validated.
public struct JUnitError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the file involved.
    public var message: String
    /// The parse errors, with their lines, when a document or schema is not well-formed XML.
    public var problems: [SchemaProblem]

    /// An error saying `message`, with the parse errors behind it, if any.
    public init(_ message: String, problems: [SchemaProblem] = []) {
        self.message = message
        self.problems = problems
    }

    /// The message, then one indented line per problem.
    public var description: String {
        ([message] + problems.map { "  \($0)" }).joined(separator: "\n")
    }
}

/// Process-wide libxml2 setup and the small conversions every call into it needs.
enum LibXML {
    /// libxml2 must be initialised once before threads use it concurrently (its own docs:
    /// xmlInitParser "is not reentrant"); a `static let` runs its initialiser exactly once,
    /// under the runtime's lock, whichever thread gets here first.
    private static let initialised: Void = { xmlInitParser() }()

    static func initialise() { _ = initialised }

    /// The text of a C error for `errno`.
    static func errnoText(_ code: Int32 = errno) -> String { SystemCallError.reason(errno: code) }
}

extension String {
    /// Calls `body` with the string as libxml2's `const xmlChar *` (NUL-terminated UTF-8).
    /// `xmlChar` is `unsigned char`, so the C string has to be rebound, not converted.
    func withXMLChars<Result>(_ body: (UnsafePointer<xmlChar>) throws -> Result) rethrows -> Result {
        try withCString { cString in
            try cString.withMemoryRebound(to: xmlChar.self, capacity: utf8.count + 1, body)
        }
    }
}
