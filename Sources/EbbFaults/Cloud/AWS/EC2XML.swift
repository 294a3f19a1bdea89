import CLibXML2
import Foundation

/// One element of an EC2 answer: its local name (the EC2 namespace dropped), its text, and its
/// child elements in order. The Query API answers in small documents, so a tree is simplest.
struct EC2Element: Sendable, Equatable {
    var name: String
    var text: String
    var children: [EC2Element]

    /// The first child named `name`.
    func child(_ name: String) -> EC2Element? { children.first { $0.name == name } }
    /// Every child named `name` (the `item`s of an EC2 set).
    func all(_ name: String) -> [EC2Element] { children.filter { $0.name == name } }
    /// The text of the element at a path of child names, e.g. `instanceState/name`.
    func text(at path: String) -> String? {
        var element: EC2Element? = self
        for part in path.split(separator: "/") { element = element?.child(String(part)) }
        return element?.text
    }
}

/// EC2 answers parsed with libxml2 (the C module the JUnit reports use too): well-formedness
/// checked by a real parser, no network access, no entity expansion.
enum EC2XML {
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// libxml2 must be initialised once before threads use it concurrently.
    private static let initialised: Void = { xmlInitParser() }()

    static func parse(_ data: Data) throws -> EC2Element {
        _ = initialised
        guard !data.isEmpty else { throw ParseError(description: "the answer is empty, not XML") }
        guard data.count <= Int(Int32.max) else {
            throw ParseError(description: "the answer is too large (\(data.count) bytes)")
        }
        guard let parser = xmlNewParserCtxt() else {
            throw ParseError(description: "libxml2 could not create a parser")
        }
        defer { xmlFreeParserCtxt(parser) }
        // NOERROR/NOWARNING: a bad answer is reported through the thrown error, not on stderr.
        let options = Int32(
            XML_PARSE_NONET.rawValue | XML_PARSE_NOBLANKS.rawValue | XML_PARSE_NOERROR.rawValue
                | XML_PARSE_NOWARNING.rawValue)
        let document = data.withUnsafeBytes { bytes in
            xmlCtxtReadMemory(
                parser, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count), "ec2-answer.xml",
                "UTF-8", options)
        }
        guard let document, parser.pointee.wellFormed != 0 else {
            if let document { xmlFreeDoc(document) }
            throw ParseError(
                description: "the answer is not well-formed XML: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        defer { xmlFreeDoc(document) }
        guard let root = xmlDocGetRootElement(document) else {
            throw ParseError(description: "the answer has no root element")
        }
        return element(root)
    }

    private static func element(_ node: xmlNodePtr) -> EC2Element {
        var children: [EC2Element] = []
        var text = ""
        var child = node.pointee.children
        while let current = child {
            switch current.pointee.type {
            case XML_ELEMENT_NODE: children.append(element(current))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                // A text node's own content, read in place (no copy to free; libxml2's
                // `xmlFree` is a global function pointer Swift 6 will not touch).
                if let content = current.pointee.content { text += String(cString: content) }
            default: break
            }
            child = current.pointee.next
        }
        let name = node.pointee.name.map { String(cString: $0) } ?? ""
        return EC2Element(name: name, text: text.trimmingCharacters(in: .whitespacesAndNewlines), children: children)
    }
}

/// One instance as DescribeInstances reports it: what the faults select on and the undos check.
public struct EC2Instance: Sendable, Equatable {
    public var id: String
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down` or `terminated`.
    public var state: String
    public var tags: [String: String]
    /// The private DNS name (`ip-10-0-0-1.ec2.internal`), which a Kubernetes node is often named after.
    public var privateDNSName: String?

    public var name: String? { tags["Name"] }
    /// `i-0abc (web-1)`, for people.
    public var label: String { name.map { "\(id) (\($0))" } ?? id }
}

/// One page of a DescribeInstances answer.
struct DescribeInstancesPage: Sendable, Equatable {
    var instances: [EC2Instance]
    var nextToken: String?

    /// Reads `DescribeInstancesResponse/reservationSet/item/instancesSet/item`.
    init(_ root: EC2Element) throws {
        guard root.name == "DescribeInstancesResponse" else {
            throw EC2XML.ParseError(description: "expected DescribeInstancesResponse, got <\(root.name)>")
        }
        var instances: [EC2Instance] = []
        for reservation in root.child("reservationSet")?.all("item") ?? [] {
            for item in reservation.child("instancesSet")?.all("item") ?? [] {
                guard let id = item.text(at: "instanceId"), !id.isEmpty, let state = item.text(at: "instanceState/name")
                else {
                    throw EC2XML.ParseError(description: "an instance without instanceId or instanceState/name")
                }
                var tags: [String: String] = [:]
                for tag in item.child("tagSet")?.all("item") ?? [] {
                    if let key = tag.text(at: "key") { tags[key] = tag.text(at: "value") ?? "" }
                }
                let dns = item.text(at: "privateDnsName").flatMap { $0.isEmpty ? nil : $0 }
                instances.append(EC2Instance(id: id, state: state, tags: tags, privateDNSName: dns))
            }
        }
        self.instances = instances
        nextToken = root.text(at: "nextToken").flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The `<Response><Errors><Error>` document EC2 answers a failed call with.
struct EC2ErrorDocument: Sendable, Equatable {
    var code: String
    var message: String
    var requestID: String?

    init?(_ root: EC2Element) {
        guard let error = root.child("Errors")?.child("Error") ?? (root.name == "Error" ? root : nil),
            let code = error.text(at: "Code")
        else { return nil }
        self.code = code
        message = error.text(at: "Message") ?? ""
        requestID = root.text(at: "RequestID") ?? root.text(at: "RequestId")
    }
}
