import CLibXML2
import Foundation

/// Checks that a report page is well-formed, with libxml2: its HTML parser (as browsers and
/// scrapers read it) and its XML parser (the page is written as polyglot XHTML, so any
/// unclosed element, stray `&` or unescaped `<` is caught exactly).
public enum HTMLCheck {
    /// Every parse error, empty when the page is well-formed. libxml2's HTML parser knows
    /// HTML 4 only, so its "Tag svg invalid" for HTML5 and SVG elements is not counted;
    /// everything else it reports (unclosed or mismatched tags, bad entities) is.
    public static func problems(in text: String) -> [SchemaProblem] {
        LibXML.initialise()
        let data = Data(text.utf8)
        guard !data.isEmpty else { return [SchemaProblem(line: 0, message: "the page is empty")] }
        return parse(data, html: true).map { SchemaProblem(line: $0.line, message: "HTML: \($0.message)") }
            + parse(data, html: false).map { SchemaProblem(line: $0.line, message: "XML: \($0.message)") }
    }

    private static func parse(_ data: Data, html: Bool) -> [SchemaProblem] {
        guard let parser = html ? htmlNewParserCtxt() : xmlNewParserCtxt() else {
            return [SchemaProblem(line: 0, message: "libxml2 could not create a parser")]
        }
        defer { html ? htmlFreeParserCtxt(parser) : xmlFreeParserCtxt(parser) }
        let collector = ProblemCollector()
        collector.ignoredCodes = [Int32(XML_HTML_UNKNOWN_TAG.rawValue)]
        parser.pointee._private = Unmanaged.passUnretained(collector).toOpaque()
        parser.pointee.sax.pointee.serror = collectParserProblem
        let document = withExtendedLifetime(collector) {
            data.withUnsafeBytes { bytes -> xmlDocPtr? in
                let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
                if html {
                    return htmlCtxtReadMemory(
                        parser, base, Int32(bytes.count), "report.html", "UTF-8",
                        Int32(HTML_PARSE_NONET.rawValue))
                }
                return xmlCtxtReadMemory(
                    parser, base, Int32(bytes.count), "report.html", "UTF-8",
                    Int32(XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue))
            }
        }
        parser.pointee._private = nil
        var problems = collector.take()
        if let document {
            xmlFreeDoc(document)
        } else if problems.isEmpty {
            problems.append(SchemaProblem(line: 0, message: "the page could not be parsed"))
        }
        if !html, parser.pointee.wellFormed == 0, problems.isEmpty {
            problems.append(SchemaProblem(line: 0, message: "not well-formed"))
        }
        return problems
    }
}
