import CLibXML2
import Foundation

/// A thin, throwing wrapper over libxml2's xmlTextWriter on an open file descriptor.
///
/// Every xmlTextWriter call returns a byte count or -1; a -1 that went unnoticed would leave
/// a truncated report that still gets renamed into place, so each one is checked.
final class XMLStreamWriter {
    private let writer: xmlTextWriterPtr
    private let path: String

    /// Writes to `fd`, which the caller keeps ownership of (libxml2's fd output buffer
    /// never closes it). `path` only names the file in errors.
    init(fd: Int32, path: String) throws {
        LibXML.initialise()
        guard let buffer = xmlOutputBufferCreateFd(fd, nil) else {
            throw JUnitError("cannot write \(path): libxml2 could not create an output buffer")
        }
        // On success the writer owns the buffer and frees it with itself.
        guard let writer = xmlNewTextWriter(buffer) else {
            xmlOutputBufferClose(buffer)
            throw JUnitError("cannot write \(path): libxml2 could not create a text writer")
        }
        self.writer = writer
        self.path = path
        // Indentation only ever goes between elements: libxml2 writes none inside an element
        // that holds text or CDATA, so output and messages stay byte-exact.
        try call("set indentation") { xmlTextWriterSetIndent(writer, 1) }
        try call("set indentation") { "  ".withXMLChars { xmlTextWriterSetIndentString(writer, $0) } }
    }

    deinit { xmlFreeTextWriter(writer) }

    /// Runs one libxml2 call and throws on a negative result. errno is cleared first so a
    /// failed write(2) (ENOSPC, EIO) can be named and a stale value cannot be.
    private func call(_ operation: String, _ body: () -> Int32) throws {
        errno = 0
        let code = body()
        guard code >= 0 else {
            let reason = errno != 0 ? ": \(LibXML.errnoText())" : ""
            throw JUnitError("writing \(path) failed (\(operation))\(reason)")
        }
    }

    func startDocument() throws {
        try call("start document") { xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil) }
    }

    func endDocument() throws {
        try call("end document") { xmlTextWriterEndDocument(writer) }
        try call("flush") { xmlTextWriterFlush(writer) }
    }

    /// Hands what libxml2 buffered to the file descriptor.
    func flush() throws {
        try call("flush") { xmlTextWriterFlush(writer) }
    }

    func startElement(_ name: String) throws {
        try call("start <\(name)>") { name.withXMLChars { xmlTextWriterStartElement(writer, $0) } }
    }

    func endElement() throws {
        try call("end element") { xmlTextWriterEndElement(writer) }
    }

    /// Writes `value` escaped (`&`, `<`, `"`, newlines and tabs as references); it must
    /// already be free of characters XML cannot carry.
    func attribute(_ name: String, _ value: String) throws {
        try call("attribute \(name)") {
            name.withXMLChars { name in value.withXMLChars { xmlTextWriterWriteAttribute(writer, name, $0) } }
        }
    }

    /// A CDATA section holding `text` (nothing when `text` is empty). `text` must have gone
    /// through `TextHygiene.clean` (or `cdataSafe` after hygiene): it is written raw, and
    /// only the split `]]>` keeps it from ending the section early.
    func cdata(_ text: String) throws {
        guard !text.isEmpty else { return }
        try call("start CDATA") { xmlTextWriterStartCDATA(writer) }
        var text = text
        try call("CDATA") {
            text.withUTF8 { bytes in
                bytes.withMemoryRebound(to: xmlChar.self) {
                    xmlTextWriterWriteRawLen(writer, $0.baseAddress, Int32(bytes.count))
                }
            }
        }
        try call("end CDATA") { xmlTextWriterEndCDATA(writer) }
    }
}
