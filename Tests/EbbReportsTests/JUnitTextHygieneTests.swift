import EbbReports
import Foundation
import Testing

@Suite struct JUnitTextHygieneTests {
    @Test(arguments: [
        ("\u{1B}[38;5;196mred\u{1B}[0m", "red"),
        ("\u{1B}[?25lhidden cursor\u{1B}[?25h", "hidden cursor"),
        ("\u{1B}[2K\rprogress 50%", "\rprogress 50%"),
        ("\u{1B}]8;;https://example.com\u{1B}\\link\u{1B}]8;;\u{1B}\\", "link"),
        ("\u{1B}]0;title\u{7}text", "text"),
        ("\u{1B}(B\u{1B}[mreset", "reset"),
        ("\u{1B}7saved\u{1B}8", "saved"),
        ("lone\u{1B}", "lone"),
        ("lone\u{1B}\nnext", "lone\nnext"),
        ("open osc \u{1B}]0;never ends", "open osc "),
        ("broken csi \u{1B}[12;é", "broken csi é"),
        ("\u{9B}31mC1", "31mC1"),
    ])
    func escapeSequencesAreStripped(_ input: String, _ expected: String) {
        #expect(TextHygiene.clean(input, limit: 1_000) == expected)
    }

    @Test func xmlIllegalCharactersGoAndTheRestStays() {
        var input = "tab\tlf\ncr\r"
        for scalar in (0x00...0x1F).map({ Unicode.Scalar(UInt8($0)) }) where ![0x09, 0x0A, 0x0D].contains(scalar.value)
        {
            input.unicodeScalars.append(scalar)
        }
        input += "\u{7F}\u{85}\u{9F}\u{FFFE}\u{FFFF}\u{A0}é日本🔥\u{10FFFD}"
        #expect(TextHygiene.clean(input, limit: 1_000) == "tab\tlf\ncr\r\u{A0}é日本🔥\u{10FFFD}")
    }

    @Test func cdataTerminatorsAreSplit() {
        #expect(TextHygiene.clean("a]]>b]]]>c", limit: 1_000) == "a]]]]><![CDATA[>b]]]]]><![CDATA[>c")
        // Removing an escape must not be able to create one.
        #expect(TextHygiene.clean("]]\u{1B}[0m>", limit: 1_000) == "]]]]><![CDATA[>")
    }

    @Test func truncationKeepsHeadAndTailWithoutCuttingCharacters() {
        let text = "START" + String(repeating: "é日🔥", count: 10_000) + "END"
        let cleaned = TextHygiene.clean(text, limit: 1_000)
        #expect(cleaned.utf8.count <= 1_000)
        #expect(cleaned.utf8.count > 950)
        #expect(cleaned.hasPrefix("STARTé日🔥"))
        #expect(cleaned.hasSuffix("é日🔥END"))
        #expect(!cleaned.unicodeScalars.contains("\u{FFFD}"))
        let omitted = text.utf8.count - cleaned.utf8.count + marker(in: cleaned).utf8.count
        #expect(marker(in: cleaned) == "\n... [\(omitted) bytes omitted] ...\n")
        #expect(TextHygiene.clean("short", limit: 5) == "short")
    }

    @Test func escapesDoNotCountAgainstTheLimit() {
        let text = String(repeating: "\u{1B}[31mx\u{1B}[0m", count: 500)  // 4,500 bytes, 500 after cleaning
        #expect(TextHygiene.clean(text, limit: 1_000) == String(repeating: "x", count: 500))
    }

    /// A huge text is cleaned from two windows; the result must be what cleaning all of it
    /// and then cutting would give, even with escapes and multi-byte characters everywhere.
    @Test func aHugeTextIsCleanedAsIfWhole() {
        let unit = "ab\u{1B}[1;31mc🔥\u{1B}]0;t\u{7}d\u{0}é\u{1B}(B日\n"
        let text = "HEAD" + String(repeating: unit, count: 400_000) + "TAIL"  // about 12 MB
        let limit = 64 * 1024
        let cleaned = TextHygiene.clean(text, limit: limit)
        let whole = TextHygiene.clean(text, limit: .max)
        let marker = marker(in: cleaned)
        let parts = cleaned.components(separatedBy: marker)
        #expect(parts.count == 2)
        #expect(cleaned.utf8.count <= limit)
        #expect(cleaned.utf8.count > limit - 200)
        #expect(whole.hasPrefix(parts[0]) && parts[0].hasPrefix("HEADabc🔥dé日\n"))
        #expect(whole.hasSuffix(parts[1]) && parts[1].hasSuffix("abc🔥dé日\nTAIL"))
        #expect(marker == "\n... [\(text.utf8.count - parts[0].utf8.count - parts[1].utf8.count) bytes omitted] ...\n")
        #expect(!cleaned.contains("\u{1B}") && !cleaned.contains("\u{0}"))
    }

    private func marker(in text: String) -> String {
        guard let start = text.range(of: "\n... ["),
            let end = text.range(of: "] ...\n", range: start.upperBound..<text.endIndex)
        else {
            return ""
        }
        return String(text[start.lowerBound..<end.upperBound])
    }
}
