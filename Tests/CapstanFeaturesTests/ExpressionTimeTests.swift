import CapstanCore
import CapstanFeatures
import Foundation
import Testing

@Suite("Expression time functions")
struct ExpressionTimeTests {
    struct Moment: Sendable, CustomTestStringConvertible {
        var iso: String
        var millis: Double
        var hour: Double
        var minute: Double
        var weekday: Double
        var day: Double

        var testDescription: String { iso }
    }

    /// Epoch values checked with `date -u -d <iso> +%s`.
    static let moments: [Moment] = [
        Moment(iso: "2026-11-21T10:00:00Z (Saturday)", millis: 1_795_255_200_000, hour: 10, minute: 0, weekday: 6, day: 21),
        Moment(iso: "2026-11-22T00:00:00Z (Sunday)", millis: 1_795_305_600_000, hour: 0, minute: 0, weekday: 7, day: 22),
        Moment(iso: "2026-11-20T23:59:59.999Z (Friday)", millis: 1_795_219_199_999, hour: 23, minute: 59, weekday: 5, day: 20),
        Moment(iso: "2026-11-23T23:59:00Z (Monday)", millis: 1_795_478_340_000, hour: 23, minute: 59, weekday: 1, day: 23),
        Moment(iso: "2024-02-29T12:34:56Z (Thursday)", millis: 1_709_210_096_000, hour: 12, minute: 34, weekday: 4, day: 29),
        Moment(iso: "2000-03-01T00:00:00Z (Wednesday)", millis: 951_868_800_000, hour: 0, minute: 0, weekday: 3, day: 1),
        Moment(iso: "1970-01-01T00:00:00Z (Thursday)", millis: 0, hour: 0, minute: 0, weekday: 4, day: 1),
        Moment(iso: "1969-12-31T23:30:00Z (Wednesday)", millis: -1_800_000, hour: 23, minute: 30, weekday: 3, day: 31),
        Moment(iso: "1969-12-31T23:59:59.999Z (Wednesday)", millis: -1, hour: 23, minute: 59, weekday: 3, day: 31),
        Moment(iso: "1900-03-01T05:06:00Z (Thursday)", millis: -2_203_872_840_000, hour: 5, minute: 6, weekday: 4, day: 1),
        Moment(iso: "2100-12-31T23:00:00Z (Friday)", millis: 4_133_977_200_000, hour: 23, minute: 0, weekday: 5, day: 31),
        Moment(iso: "2026-11-21T10:00:00.7Z (fraction)", millis: 1_795_255_200_000.7, hour: 10, minute: 0, weekday: 6, day: 21),
    ]

    @Test("calendar fields of known instants", arguments: moments)
    func knownInstants(moment: Moment) throws {
        let fields: [TestField] = [.number("ts", moment.millis)]
        #expect(try evaluate("hour_of_day(ts)", fields) == .number(moment.hour))
        #expect(try evaluate("minute_of_hour(ts)", fields) == .number(moment.minute))
        #expect(try evaluate("day_of_week(ts)", fields) == .number(moment.weekday))
        #expect(try evaluate("day_of_month(ts)", fields) == .number(moment.day))
        #expect(try evaluate("is_weekend(ts)", fields) == .bool(moment.weekday >= 6))
    }

    @Test("calendar fields agree with Foundation's UTC Gregorian calendar from 1901 to 2099")
    func agreesWithFoundation() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        let fields: [TestField] = [.number("ts", 0)]
        let hour = try compileExpression("hour_of_day(ts)", fields)
        let minute = try compileExpression("minute_of_hour(ts)", fields)
        let weekday = try compileExpression("day_of_week(ts)", fields)
        let day = try compileExpression("day_of_month(ts)", fields)
        // Steps of one day, 1 h, 7 min and 13 s (90,433 s) walk through every hour, many minutes and all
        // weekdays and month ends.
        let step: Double = 90_433_000  // ms
        var millis = -2_177_452_800_000.0  // 1901-01-01
        var checked = 0
        while millis < 4_102_444_800_000 {  // 2100-01-01
            let parts = calendar.dateComponents(
                [.hour, .minute, .weekday, .day], from: Date(timeIntervalSince1970: millis / 1000))
            let slots: [FeatureValue] = [.number(millis)]
            let foundationWeekday: Int = try #require(parts.weekday)  // 1 = Sunday
            let isoWeekday: Int = (foundationWeekday + 5) % 7 + 1
            #expect(hour.evaluate(slots) == .number(Double(try #require(parts.hour))))
            #expect(minute.evaluate(slots) == .number(Double(try #require(parts.minute))))
            #expect(weekday.evaluate(slots) == .number(Double(isoWeekday)))
            #expect(day.evaluate(slots) == .number(Double(try #require(parts.day))))
            millis += step
            checked += 1
        }
        #expect(checked > 25_000)
    }

    @Test("timestamps beyond the supported range give null")
    func outOfRange() throws {
        #expect(try evaluate("hour_of_day(1e16)") == .null)
        #expect(try evaluate("day_of_month(-1e16)") == .null)
        #expect(try evaluate("is_weekend(ts)", [.number("ts", 9e300)]) == .null)
        #expect(try evaluate("day_of_week(8.64e15)") == .number(6))  // +275760-09-13, a Saturday
    }
}
