import CapstanAPI
import Foundation

/// A run's logical time and data interval. A scheduled run's logical time is its firing and its
/// interval runs from the previous firing to that one (a daily job firing at 00:00 on the 8th
/// processes the 7th). An on-demand run's interval is empty unless given.
public struct BatchRunTimes: Sendable, Hashable, Codable {
    public var logicalTime: Date
    public var intervalStart: Date
    public var intervalEnd: Date

    public init(logicalTime: Date, intervalStart: Date, intervalEnd: Date) {
        self.logicalTime = logicalTime
        self.intervalStart = intervalStart
        self.intervalEnd = intervalEnd
    }

    /// The logical time's day in `timeZone` (`2026-12-07`), for `{{run.date}}`.
    public func date(in timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: intervalStart < logicalTime ? intervalStart : logicalTime)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}

/// Which scheduled intervals to start now, from the cron, the newest logical time already in
/// the ledger, the catch-up policy and the starting deadline. Pure: the scheduler (a CronJob
/// pod, or `capstan batch schedule`) calls it and claims each interval in the ledger, so a
/// firing that happens twice, or two schedulers, never start an interval twice.
public enum BatchIntervals {
    public struct Decision: Sendable, Equatable {
        /// Intervals to start, oldest first.
        public var start: [BatchRunTimes]
        /// Firings passed over (catch-up `none`/`last`, beyond `maxRuns`, or past the deadline).
        public var missed: [Date]
        /// The next firing after now.
        public var next: Date?
    }

    /// - Parameters:
    ///   - newest: the newest scheduled logical time in the ledger; nil for a job that never ran
    ///     (then only the latest due firing is considered, never the job's whole past).
    ///   - now: the scheduler's clock.
    public static func due(
        cron: CronExpression, timeZone: TimeZone, newest: Date?, now: Date, catchUp: BatchCatchUp?, startingDeadlineSeconds: Int64?
    ) -> Decision {
        let policy = catchUp?.policy ?? .last
        let cap = Int(catchUp?.maxRuns ?? 24)
        // Firings in (newest, now], newest first once collected; bounded so a job idle for years
        // does not enumerate every minute since.
        var firings: [Date] = []
        var cursor = newest ?? previousFiring(cron: cron, timeZone: timeZone, before: now.addingTimeInterval(0.001)) ?? now
        if newest == nil, cursor <= now { firings.append(cursor) }
        let limit = 100_000
        while firings.count < limit, let next = cron.next(after: cursor, timeZone: timeZone), next <= now {
            firings.append(next)
            cursor = next
        }
        if newest == nil { firings = Array(firings.suffix(1)) }
        var missed: [Date] = []
        // The starting deadline drops firings too old to start at all.
        if let deadline = startingDeadlineSeconds {
            let oldest = now.addingTimeInterval(-Double(deadline))
            missed += firings.filter { $0 < oldest }
            firings.removeAll { $0 < oldest }
        }
        var chosen: [Date]
        switch policy {
        case .none, .last:
            chosen = firings.last.map { [$0] } ?? []
            missed += firings.dropLast()
        case .all:
            chosen = Array(firings.suffix(cap))
            missed += firings.dropLast(min(cap, firings.count))
        }
        // `none` starts only a firing that is on time (within the starting deadline, or five
        // minutes without one); anything older counts as missed.
        if policy == .none, let only = chosen.first, now.timeIntervalSince(only) > Double(startingDeadlineSeconds ?? 300) {
            missed.append(only)
            chosen = []
        }
        let start = chosen.map { firing in
            BatchRunTimes(
                logicalTime: firing, intervalStart: previousFiring(cron: cron, timeZone: timeZone, before: firing) ?? firing, intervalEnd: firing)
        }
        return Decision(start: start, missed: missed.sorted(), next: cron.next(after: now, timeZone: timeZone))
    }

    /// The last firing strictly before `date`, looking back up to about a year.
    public static func previousFiring(cron: CronExpression, timeZone: TimeZone, before date: Date) -> Date? {
        for span: Double in [3_600, 86_400, 2_764_800, 31_708_800] {
            var cursor = date.addingTimeInterval(-span)
            var last: Date?
            var steps = 0
            while let next = cron.next(after: cursor, timeZone: timeZone), next < date, steps < 600_000 {
                last = next
                cursor = next
                steps += 1
            }
            if let last { return last }
        }
        return nil
    }
}
