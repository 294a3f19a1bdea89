/// Refuses YAML nested deeper than ``maximumDepth`` before Yams sees it: Yams composes the
/// tree recursively, one stack frame per level, so a line of 100,000 `[` crashes the process.
///
/// The count is a cheap upper bound taken on the text: flow brackets that open a node (outside
/// quotes and comments), plus block levels from indentation and compact `- ` entries. It can
/// only overestimate, and a hand-written suite is nowhere near the limit.
enum NestingLimit {
    static let maximumDepth = 64

    static func check(_ text: String, file: String) throws {
        var blockLevels: [Int] = []  // columns of the open block levels
        var flowDepth = 0
        var quote: Unicode.Scalar?  // open quoted scalar, possibly spanning lines
        var blockScalarParent: Int?  // lines indented deeper than this are block scalar content
        var number = 0
        for line in TextLines.split(text) {
            number += 1
            var start = 0
            while start < line.count, line[start] == " " { start += 1 }
            let blank = start == line.count || line[start] == "#"
            if let parent = blockScalarParent {
                if blank || start > parent { continue }
                blockScalarParent = nil
            }
            func refuse(at column: Int) -> SuiteErrors {
                SuiteErrors([
                    SuiteError(
                        file: file, line: number, column: column + 1, key: "(syntax)",
                        message:
                            "the document is nested deeper than \(maximumDepth) levels (lists and mappings inside each other); Ebb refuses it before parsing"
                    )
                ])
            }
            if quote == nil, flowDepth == 0, !blank {
                while let last = blockLevels.last, last >= start { blockLevels.removeLast() }
                blockLevels.append(start)
                var column = start
                // "- - x" opens a level per entry marker on one line.
                while column + 1 < line.count, line[column] == "-" || line[column] == "?",
                    line[column + 1] == " " || line[column + 1] == "\t"
                {
                    column += 2
                    while column < line.count, line[column] == " " { column += 1 }
                    blockLevels.append(column)
                }
                if blockLevels.count > maximumDepth { throw refuse(at: start) }
            }
            var previous: Unicode.Scalar = " "
            var lastSignificant: Unicode.Scalar?
            var index = start
            scan: while index < line.count {
                let scalar = line[index]
                if let open = quote {
                    if open == "\"" && scalar == "\\" {
                        index += 2
                        continue
                    }
                    if scalar == open {
                        if open == "'", index + 1 < line.count, line[index + 1] == "'" {
                            index += 2
                            continue
                        }
                        quote = nil
                    }
                } else {
                    // A quote or bracket opens a node only where one may start: at the start,
                    // after `[`, `{` or `,`, or after `:`, `-` or `?` and a blank.
                    let nodeMayStart =
                        lastSignificant.map {
                            "[{,".unicodeScalars.contains($0)
                                || (":-?".unicodeScalars.contains($0) && (previous == " " || previous == "\t"))
                        } ?? true
                    switch scalar {
                    case "#" where previous == " " || previous == "\t":
                        break scan
                    case "\"" where nodeMayStart, "'" where nodeMayStart:
                        quote = scalar
                    case "[" where nodeMayStart || flowDepth > 0, "{" where nodeMayStart || flowDepth > 0:
                        flowDepth += 1
                        if blockLevels.count + flowDepth > maximumDepth { throw refuse(at: index) }
                    case "]" where flowDepth > 0, "}" where flowDepth > 0:
                        flowDepth -= 1
                    default:
                        break
                    }
                }
                previous = scalar
                if scalar != " " && scalar != "\t" { lastSignificant = scalar }
                index += 1
            }
            // `key: |` or `- >-`: the more indented lines that follow are text, not structure.
            if quote == nil, flowDepth == 0, Self.endsWithBlockScalarHeader(line[start..<index]) {
                blockScalarParent = start
            }
        }
    }

    /// Whether `content` (a line without its comment) ends with a block scalar header.
    private static func endsWithBlockScalarHeader(_ content: ArraySlice<Unicode.Scalar>) -> Bool {
        var trimmed = content
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        while let last = trimmed.last, last == "-" || last == "+" || last.properties.numericType != nil {
            trimmed.removeLast()
        }
        guard let last = trimmed.last, last == "|" || last == ">" else { return false }
        trimmed.removeLast()
        return trimmed.isEmpty || trimmed.last == " " || trimmed.last == "\t"
    }
}
