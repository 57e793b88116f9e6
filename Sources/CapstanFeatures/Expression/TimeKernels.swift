// Calendar functions of a timestamp in Unix epoch milliseconds, UTC (proleptic Gregorian).
// Fractional milliseconds are floored; timestamps beyond +-8.64e15 ms (about 273,790 years, the
// JavaScript Date range) give null.

enum CivilTime {
    static let millisPerDay: Int64 = 86_400_000
    static let limit = 8.64e15

    /// Days since 1970-01-01 and milliseconds into that day.
    static func split(_ ms: Double) -> (day: Int64, millis: Int64)? {
        guard Swift.abs(ms) <= limit else { return nil }
        let total = Int64(ms.rounded(.down))
        var day = total / millisPerDay
        var millis = total % millisPerDay
        if millis < 0 {
            day -= 1
            millis += millisPerDay
        }
        return (day, millis)
    }

    /// ISO weekday, 1 = Monday ... 7 = Sunday. 1970-01-01 was a Thursday.
    static func weekday(_ day: Int64) -> Int64 {
        var r = (day + 3) % 7
        if r < 0 { r += 7 }
        return r + 1
    }

    /// Day of the month (1-31) of a day count since 1970-01-01, by counting in 400-year eras
    /// of 146,097 days that start on March 1st (so the leap day ends each year).
    static func dayOfMonth(_ day: Int64) -> Int64 {
        let z = day + 719_468  // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // from March 1st
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        return dayOfYear - (153 * monthIndex + 2) / 5 + 1
    }
}

enum HourOfDay: UnaryKernel {
    static func apply(_ ms: Double) -> Double? {
        CivilTime.split(ms).map { Double($0.millis / 3_600_000) }
    }
}

enum MinuteOfHour: UnaryKernel {
    static func apply(_ ms: Double) -> Double? {
        CivilTime.split(ms).map { Double($0.millis / 60_000 % 60) }
    }
}

enum DayOfWeek: UnaryKernel {
    static func apply(_ ms: Double) -> Double? {
        CivilTime.split(ms).map { Double(CivilTime.weekday($0.day)) }
    }
}

enum IsWeekend: UnaryKernel {
    static func apply(_ ms: Double) -> Bool? {
        CivilTime.split(ms).map { CivilTime.weekday($0.day) >= 6 }
    }
}

enum DayOfMonth: UnaryKernel {
    static func apply(_ ms: Double) -> Double? {
        CivilTime.split(ms).map { Double(CivilTime.dayOfMonth($0.day)) }
    }
}
