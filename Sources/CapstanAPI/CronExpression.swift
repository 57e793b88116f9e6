import CapstanCore
import Foundation

/// A five-field cron expression as the Kubernetes CronJob controller accepts it (robfig/cron's
/// standard parser): minute, hour, day of month, month, day of week; `*`, `?`, lists, ranges,
/// steps (`*/15`, `1-30/5`, `5/10`), month and weekday names (`JAN`, `MON`), 7 as Sunday, and
/// the macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
/// `TZ=` prefixes are rejected: Kubernetes wants `spec.timeZone` instead.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    /// Allowed values per field, in field order.
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let daysOfMonth: Set<Int>
    public let months: Set<Int>
    public let daysOfWeek: Set<Int>
    /// True when the day-of-month or day-of-week field was `*`/`?` (cron's OR rule applies only
    /// when both are restricted).
    let dayOfMonthAny: Bool
    let dayOfWeekAny: Bool

    public var description: String { text }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    public init(parsing text: String) throws(CapstanError) {
        self.text = text
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("TZ=") || trimmed.hasPrefix("CRON_TZ=") {
            throw CapstanError(.invalidSpec, "cron '\(text)': a TZ= prefix is not allowed; set the time zone in timeZone")
        }
        let expanded: String
        if trimmed.hasPrefix("@") {
            guard let macro = Self.macros[trimmed.lowercased()] else {
                throw CapstanError(.invalidSpec, "cron '\(text)': unknown macro; use @hourly, @daily, @weekly, @monthly or @yearly")
            }
            expanded = macro
        } else {
            expanded = trimmed
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CapstanError(
                .invalidSpec, "cron '\(text)' has \(fields.count) fields; write five: minute hour day-of-month month day-of-week (e.g. '0 * * * *')")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [], text: text)
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [], text: text)
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, names: [], text: text)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, text: text)
        var weekdays = try Self.field(fields[4], name: "day of week", range: 0...7, names: Self.dayNames, text: text)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        dayOfMonthAny = fields[2] == "*" || fields[2] == "?"
        dayOfWeekAny = fields[4] == "*" || fields[4] == "?"
        // A day of month no chosen month has (30 February) never fires: Kubernetes accepts it,
        // but a schedule that never runs is a mistake worth naming.
        let longest = months.map { [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31][$0]! }.max() ?? 31
        if dayOfWeekAny, let first = daysOfMonth.min(), first > longest {
            throw CapstanError(.invalidSpec, "cron '\(text)' never fires: no chosen month has a day \(first)")
        }
    }

    /// Whether the expression fires on this calendar day (cron's rule: with both day fields
    /// restricted, either may match).
    func firesOn(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        let dom = daysOfMonth.contains(day), dow = daysOfWeek.contains(weekday)
        if dayOfMonthAny && dayOfWeekAny { return true }
        if dayOfMonthAny { return dow }
        if dayOfWeekAny { return dom }
        return dom || dow
    }

    /// The first time after `date` (exclusive, whole minutes) the expression fires in
    /// `timeZone`, searching up to five years ahead; nil when it never fires in that span.
    public func next(after date: Date, timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = date.addingTimeInterval(60 - date.timeIntervalSince1970.truncatingRemainder(dividingBy: 60))
        guard var day = calendar.dateInterval(of: .day, for: start)?.start else { return nil }
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        for _ in 0..<(366 * 5) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday,
                firesOn(month: month, day: dayOfMonth, weekday: weekday - 1)
            {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        var wanted = parts
                        wanted.hour = hour
                        wanted.minute = minute
                        wanted.second = 0
                        // A wall time that a DST change skips does not exist: no run then.
                        guard let candidate = calendar.date(from: wanted),
                            calendar.component(.hour, from: candidate) == hour, calendar.component(.minute, from: candidate) == minute
                        else { continue }
                        if candidate >= start { return candidate }
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }

    private static func field(_ raw: String, name: String, range: ClosedRange<Int>, names: [String], text: String) throws(CapstanError) -> Set<Int> {
        func fail(_ why: String) -> CapstanError {
            CapstanError(.invalidSpec, "cron '\(text)': \(name) field '\(raw)' \(why)")
        }
        func value(_ token: Substring) throws(CapstanError) -> Int {
            if let number = Int(token) {
                guard range.contains(number) else { throw fail("has \(number), outside \(range.lowerBound)-\(range.upperBound)") }
                return number
            }
            if let index = names.firstIndex(of: token.uppercased()) { return index + (range.lowerBound == 1 ? 1 : 0) }
            throw fail("has '\(token)', which is not a number\(names.isEmpty ? "" : " or a name like \(names[0])")")
        }
        var result = Set<Int>()
        for part in raw.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw fail("has an empty list item") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fail("has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw fail("has step '\(pieces[1])'; a step is a positive number") }
                step = s
            }
            let base = pieces[0]
            var low: Int
            var high: Int
            if base == "*" || base == "?" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw fail("has a range \(low)-\(high) that runs backwards") }
            } else {
                low = try value(base)
                // `5/10` means from 5 to the end in steps of 10 (robfig/cron).
                high = pieces.count == 2 ? range.upperBound : low
            }
            if name == "day of week", range.upperBound == 7, base == "*" || base == "?" { high = 6 }
            var v = low
            while v <= high {
                result.insert(v)
                v += step
            }
        }
        return result
    }
}
