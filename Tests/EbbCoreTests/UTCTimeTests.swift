import EbbCore
import Foundation
import Testing

/// UTCTime replaces Foundation's ISO 8601 style for speed; Foundation is the reference it must agree with.
@Suite struct UTCTimeTests {
    /// Dates across leap years, both sides of the epoch, the ends of a day and of a year, with
    /// fractions a Double holds exactly, so that no rounding rule can make the texts differ.
    static let exactDates: [Date] = [
        0, 0.5, -0.5, -86_400.25, 951_782_400.5, 1_709_164_799.75, 1_796_614_933.125, 4_102_444_799.25,
        64_092_211_200.75, -2_208_988_800,
    ].map(Date.init(timeIntervalSince1970:))

    @Test(arguments: exactDates)
    func writesWhatFoundationsISO8601StyleWrites(_ date: Date) {
        #expect(UTCTime.string(date) == date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        #expect(UTCTime.string(date, fractionalSeconds: false) == date.formatted(Date.ISO8601FormatStyle()))
    }

    @Test(arguments: [0.001, 0.999, 1_709_164_799.999, 1_796_614_933.123, -0.001])
    func readsBackWhatItWroteToTheSameText(_ seconds: Double) throws {
        let text = UTCTime.string(Date(timeIntervalSince1970: seconds))
        let read = try #require(UTCTime.date(text), "\(text)")
        #expect(abs(read.timeIntervalSince1970 - seconds) < 0.0005)
        #expect(UTCTime.string(read) == text)
    }

    @Test func readsStampsWithoutAFractionAndWithAnOffset() throws {
        let epochPlusOneHour = Date(timeIntervalSince1970: 3600)
        #expect(UTCTime.date("1970-01-01T01:00:00Z") == epochPlusOneHour)
        #expect(UTCTime.date("1970-01-01T03:00:00+02:00") == epochPlusOneHour)
        #expect(UTCTime.date("1970-01-01T00:30:00-0030") == epochPlusOneHour)
        let precise = try #require(UTCTime.date("1970-01-01T01:00:00.123456Z"))
        #expect(abs(precise.timeIntervalSince1970 - 3600.123456) < 1e-6)
    }

    @Test(arguments: [
        "", "1970-01-01", "1970-01-01T01:00:00", "1970-01-01T01:00:00.Z", "1970-13-01T01:00:00Z",
        "2026-02-30T00:00:00Z", "1970-01-01T24:00:00Z", "1970-01-01 01:00:00Z", "1970-01-01T01:00:00Zjunk",
        "70-01-01T01:00:00Z",
    ])
    func refusesWhatIsNotAnISO8601Stamp(_ text: String) {
        #expect(UTCTime.date(text) == nil)
    }
}
