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
        var quote: Character?  // open quoted scalar, possibly spanning lines
        var blockScalarParent: Int?  // lines indented deeper than this are block scalar content
        var number = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            let characters = Array(line)
            var start = 0
            while start < characters.count, characters[start] == " " { start += 1 }
            let blank = start == characters.count || characters[start] == "#"
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
                while column + 1 < characters.count, characters[column] == "-" || characters[column] == "?",
                    characters[column + 1] == " " || characters[column + 1] == "\t"
                {
                    column += 2
                    while column < characters.count, characters[column] == " " { column += 1 }
                    blockLevels.append(column)
                }
                if blockLevels.count > maximumDepth { throw refuse(at: start) }
            }
            var previous: Character = " "
            var lastSignificant: Character?
            var index = start
            scan: while index < characters.count {
                let character = characters[index]
                if let open = quote {
                    if open == "\"" && character == "\\" {
                        index += 2
                        continue
                    }
                    if character == open {
                        if open == "'", index + 1 < characters.count, characters[index + 1] == "'" {
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
                            "[{,".contains($0) || (":-?".contains($0) && (previous == " " || previous == "\t"))
                        } ?? true
                    switch character {
                    case "#" where previous == " " || previous == "\t":
                        break scan
                    case "\"" where nodeMayStart, "'" where nodeMayStart:
                        quote = character
                    case "[" where nodeMayStart || flowDepth > 0, "{" where nodeMayStart || flowDepth > 0:
                        flowDepth += 1
                        if blockLevels.count + flowDepth > maximumDepth { throw refuse(at: index) }
                    case "]" where flowDepth > 0, "}" where flowDepth > 0:
                        flowDepth -= 1
                    default:
                        break
                    }
                }
                previous = character
                if character != " " && character != "\t" { lastSignificant = character }
                index += 1
            }
            // `key: |` or `- >-`: the more indented lines that follow are text, not structure.
            if quote == nil, flowDepth == 0, Self.endsWithBlockScalarHeader(characters[start..<index]) {
                blockScalarParent = start
            }
        }
    }

    /// Whether `content` (a line without its comment) ends with a block scalar header.
    private static func endsWithBlockScalarHeader(_ content: ArraySlice<Character>) -> Bool {
        var trimmed = content
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        while let last = trimmed.last, last == "-" || last == "+" || last.isNumber { trimmed.removeLast() }
        guard let last = trimmed.last, last == "|" || last == ">" else { return false }
        trimmed.removeLast()
        return trimmed.isEmpty || trimmed.last == " " || trimmed.last == "\t"
    }
}
