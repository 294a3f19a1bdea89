import CLibXML2
import Foundation

/// One way a document breaks its schema (or, in a thrown `JUnitError`, one parse error).
public struct SchemaProblem: Sendable, CustomStringConvertible {
    /// The line in the document (0 when libxml2 did not know it).
    public var line: Int
    /// libxml2's message, e.g. `Element 'testcase': The attribute 'name' is required but missing.`
    public var message: String

    /// A problem at `line` (1-based; 0 when unknown).
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    /// `line N: message`, the way compilers and xmllint print it.
    public var description: String { "line \(line): \(message)" }
}

/// Checks a JUnit file against the XSD its consumer enforces, with libxml2's XML Schema
/// validator: the same engine as `xmllint --schema`.
public enum SchemaValidator {
    /// Validates an XML file against an XSD with libxml2's xmlschemas API; collects every error with its line through a structured error handler (a global C function, context via userData/Unmanaged — Swift 6 strict concurrency).
    ///
    /// Both files are read by Ebb and parsed from memory with a parser context whose
    /// structured error handler is Ebb's, then validated with `xmlSchemaValidateDoc`.
    /// `xmlSchemaValidateFile` would be shorter but sends well-formedness errors to
    /// libxml2's global handler (stderr) instead of the validation context's, returns -1
    /// without saying why, and URI-unescapes the file name (`a%41b` reads `aAb`).
    /// Parsing keeps libxml2's default limits (no `XML_PARSE_HUGE`), so a text node over
    /// 10 MB fails here as it fails in other libxml2-based consumers; no network access.
    ///
    /// - Returns: every validation error, empty when the document is valid.
    /// - Throws: `JUnitError` when a file cannot be read, the schema or the document is not
    ///   well-formed (its `problems` carry the parse errors with their lines), or the schema
    ///   is not a usable XSD.
    public static func validate(file: String, schema: String) throws -> [SchemaProblem] {
        try validate(file: file, schemaData: read(schema, what: "schema"), schema: schema)
    }

    /// Validates `file` against a schema given as text (e.g. one of ``EmbeddedSchemas``);
    /// `name` stands for the schema in messages.
    public static func validate(file: String, schemaText: String, name: String) throws -> [SchemaProblem] {
        try validate(file: file, schemaData: Data(schemaText.utf8), schema: name)
    }

    private static func validate(file: String, schemaData: Data, schema: String) throws -> [SchemaProblem] {
        LibXML.initialise()
        let documentData = try read(file, what: "document")

        let schemaDocument = try parse(schemaData, path: schema, what: "schema")
        // The parsed schema keeps pointers into its document (annotations), so the document
        // is freed last; defers run in reverse order.
        defer { xmlFreeDoc(schemaDocument) }
        let collector = ProblemCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        guard let parserContext = xmlSchemaNewDocParserCtxt(schemaDocument) else {
            throw JUnitError("cannot validate against \(schema): libxml2 could not create a schema parser")
        }
        defer { xmlSchemaFreeParserCtxt(parserContext) }
        xmlSchemaSetParserStructuredErrors(parserContext, collectProblem, context)
        guard let compiled = withExtendedLifetime(collector, { xmlSchemaParse(parserContext) }) else {
            throw JUnitError("\(schema) is not a usable XML schema", problems: collector.take())
        }
        defer { xmlSchemaFree(compiled) }

        let document = try parse(documentData, path: file, what: "document")
        defer { xmlFreeDoc(document) }
        guard let validContext = xmlSchemaNewValidCtxt(compiled) else {
            throw JUnitError("cannot validate \(file): libxml2 could not create a validation context")
        }
        defer { xmlSchemaFreeValidCtxt(validContext) }
        _ = collector.take()  // schema warnings are not the document's problems
        xmlSchemaSetValidStructuredErrors(validContext, collectProblem, context)
        let code = withExtendedLifetime(collector) { xmlSchemaValidateDoc(validContext, document) }
        var problems = collector.take()
        if code < 0 {
            throw JUnitError(
                "libxml2 could not validate \(file) against \(schema) (internal error \(code))", problems: problems)
        }
        // The result is an error code, not a count: a code without a collected message
        // still means invalid.
        if code > 0 && problems.isEmpty {
            problems.append(SchemaProblem(line: 0, message: "not valid against \(schema) (libxml2 error \(code))"))
        }
        return problems
    }

    private static func read(_ path: String, what: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw JUnitError("cannot read \(what) \(path): \((error as NSError).localizedDescription)")
        }
    }

    /// Parses `data` as XML, collecting parse errors through the context's own handler.
    private static func parse(_ data: Data, path: String, what: String) throws -> xmlDocPtr {
        guard !data.isEmpty else { throw JUnitError("\(what) \(path) cannot be parsed: the file is empty") }
        guard data.count <= Int(Int32.max) else {
            throw JUnitError("\(what) \(path) is too large to parse (\(data.count) bytes)")
        }
        guard let parser = xmlNewParserCtxt() else {
            throw JUnitError("cannot parse \(path): libxml2 could not create a parser")
        }
        defer { xmlFreeParserCtxt(parser) }
        let collector = ProblemCollector()
        // Parser errors reach `sax->serror` with the parser context as their user data (the
        // SAX callbacks need it to be), so the collector travels in `_private`, which libxml2
        // leaves alone.
        parser.pointee._private = Unmanaged.passUnretained(collector).toOpaque()
        parser.pointee.sax.pointee.serror = collectParserProblem
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue)
        let document = withExtendedLifetime(collector) {
            data.withUnsafeBytes { bytes in
                // `path` is only the base URL for relative references (xs:include); the bytes
                // are what is parsed.
                xmlCtxtReadMemory(
                    parser, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count), path, nil,
                    options)
            }
        }
        parser.pointee._private = nil
        guard let document, parser.pointee.wellFormed != 0 else {
            if let document { xmlFreeDoc(document) }
            var problems = collector.take()
            if problems.isEmpty { problems = [SchemaProblem(line: 0, message: "not well-formed XML")] }
            throw JUnitError("\(what) \(path) cannot be parsed", problems: problems)
        }
        return document
    }
}

/// Gathers errors from libxml2 callbacks. Used only synchronously, on the thread that
/// called into libxml2, and kept alive across the calls with `withExtendedLifetime`.
final class ProblemCollector {
    private var problems: [SchemaProblem] = []
    /// libxml2 error codes that are not problems for this caller (the HTML check's unknown tags).
    var ignoredCodes: Set<Int32> = []

    func add(_ error: xmlError) {
        // Warnings (e.g. a relative namespace URI) do not make a document invalid.
        guard error.level.rawValue >= XML_ERR_ERROR.rawValue, !ignoredCodes.contains(error.code) else { return }
        var line = Int(error.line)
        // Validation errors carry their node; with XML_PARSE_BIG_LINES its line is exact
        // even past 65535, where `error.line` saturates.
        if error.domain == Int32(XML_FROM_SCHEMASV.rawValue), let node = error.node {
            let nodeLine = xmlGetLineNo(node.assumingMemoryBound(to: xmlNode.self))
            if nodeLine > 0 { line = nodeLine }
        }
        let message = error.message.map { String(cString: $0) } ?? "unknown error (code \(error.code))"
        problems.append(SchemaProblem(line: line, message: message.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    func take() -> [SchemaProblem] {
        defer { problems = [] }
        return problems
    }
}

/// Schema parser and validator errors: `userData` is the collector itself. A global
/// function, because a C function pointer cannot capture context (and Swift 6 would not let
/// a closure share mutable state with it anyway).
private func collectProblem(_ userData: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let userData, let error else { return }
    Unmanaged<ProblemCollector>.fromOpaque(userData).takeUnretainedValue().add(error.pointee)
}

/// XML parser errors: `userData` is the parser context, whose `_private` is the collector.
func collectParserProblem(_ userData: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let userData, let error else { return }
    guard let collector = userData.assumingMemoryBound(to: xmlParserCtxt.self).pointee._private else { return }
    Unmanaged<ProblemCollector>.fromOpaque(collector).takeUnretainedValue().add(error.pointee)
}
