import EbbCore
import Foundation
import Testing

@testable import EbbFaults

/// The marks a sweep reads on Kubernetes objects: what counts as Ebb's, how the expiry is
/// written, and what the undo removes.
@Suite struct SweepMarkTests {
    static let text =
        #"{"at":"2026-12-06T03:00:00Z","data":{"previous":3,"readyTimeoutSeconds":120,"replicas":0},"kind":"k8s.scale-restore","scenario":"outage","seq":4}"#

    @Test func anUndoAnnotationRoundTripsAndAnythingElseIsNotAMark() throws {
        let mark = try #require(SweepMark(text: Self.text))
        #expect(mark.kind == "k8s.scale-restore" && mark.sequence == 4 && mark.scenario == "outage")
        #expect(mark.data.value(at: "previous") == 3)
        #expect(mark.text == Self.text)
        #expect(SweepMark(text: "{not json") == nil)
        #expect(
            SweepMark(text: #"{"kind":"k8s.scale-restore"}"#) == nil,
            "a mark without its sequence, time and data is not Ebb's")
    }

    @Test func theExpiryIsRoundedUpSoItIsNeverEarlierThanTheDeadline() throws {
        let deadline = Date(timeIntervalSince1970: 1_000.2)
        #expect(SweepMark.timestamp(deadline) == "1970-01-01T00:16:41Z")
        #expect(try #require(SweepMark.date(SweepMark.timestamp(deadline))) >= deadline)
        #expect(SweepMark.date("2026-12-06T03:00:00.250Z") != nil)
        #expect(SweepMark.date("tomorrow") == nil)
    }

    @Test func onlyEbbRunIDsCount() {
        #expect(SweepMark.isRunID("0badc0de"))
        for text in ["0BADC0DE", "0badc0d", "0badc0dex", "", "run-1234"] {
            #expect(!SweepMark.isRunID(text), "\(text)")
        }
    }

    @Test func theMarkAndItsRemovalCoverTheSameKeys() throws {
        let mark = try #require(SweepMark(text: Self.text))
        let set = SweepMark.metadata(
            "ebb.dev/scaled-by", runID: "0badc0de", mark: (mark, Date(timeIntervalSince1970: 0)))
        let cleared = SweepMark.metadata("ebb.dev/scaled-by", runID: "0badc0de", mark: nil)
        #expect(set["labels"] == ["ebb.dev/run": "0badc0de"])
        #expect(set["annotations"]?["ebb.dev/expires-at"] == "1970-01-01T00:00:00Z")
        #expect(set["annotations"]?["ebb.dev/undo"] == .string(Self.text))
        for part in ["labels", "annotations"] {
            #expect(
                Set(set[part]?.objectValue?.keys ?? [:].keys) == Set(cleared[part]?.objectValue?.keys ?? [:].keys),
                "\(part)")
            #expect(cleared[part]?.objectValue?.values.allSatisfy { $0 == .null } == true)
        }
    }
}

/// What the host sweep reads when no record is left: iptables' own listing of a rule.
@Suite struct IptablesRuleLineTests {
    @Test func aListedRuleSplitsIntoTheWordsThatDeleteIt() {
        let line =
            #"-A OUTPUT -p tcp -m tcp --dport 8080 -m comment --comment ebb:0badc0de/2 -j NFQUEUE --queue-num 4242 --queue-bypass"#
        let words = IptablesRuleLine.words(line)
        #expect(words.first == "-A" && words[1] == "OUTPUT")
        #expect(words.contains("ebb:0badc0de/2"))
        #expect(words.count == 17)
    }

    @Test func quotedWordsKeepTheirSpacesAndEscapedQuotes() {
        #expect(
            IptablesRuleLine.words(#"-A INPUT -m comment --comment "two words \"quoted\"" -j ACCEPT"#)
                == ["-A", "INPUT", "-m", "comment", "--comment", #"two words "quoted""#, "-j", "ACCEPT"])
        #expect(IptablesRuleLine.words(#"-A X --comment """#) == ["-A", "X", "--comment", ""])
    }
}
