import CapstanCore
import CapstanDrift

/// A run as the results tables hold it: its summary row, its score rows and its quality
/// findings. `DriftResultStore` writes `StoredDriftRun(result)` and reads these back;
/// `DriftMetrics` renders them.
public struct StoredDriftRun: Sendable, Hashable {
    public var run: DriftRunRecord
    /// In the run's order: the whole-window rows in the policy's feature order, then each
    /// chunk's, then each segment's.
    public var results: [DriftResultRow]
    public var quality: [QualityFinding]
    /// Realized performance per metric (empty when the policy has no `performance`).
    public var performance: [PerformanceResult.Metric]
    /// Labelled predictions the current metrics were computed on (nil without `performance`).
    public var labelledRows: Int?

    public init(
        run: DriftRunRecord, results: [DriftResultRow], quality: [QualityFinding], performance: [PerformanceResult.Metric] = [],
        labelledRows: Int? = nil
    ) {
        self.run = run
        self.results = results
        self.quality = quality
        self.performance = performance
        self.labelledRows = labelledRows
    }

    /// The rows stored for `result`.
    /// - Throws: `.invalidArgument` when one of its times is not RFC 3339.
    public init(_ result: DriftRunResult) throws {
        run = try DriftRunRecord(result)
        var rows = result.features.map { DriftResultRow(scope: .wholeWindow, score: $0.score) }
        for chunk in result.chunks {
            let from = try DriftTimestamp.epochMillis(chunk.window.from, "chunks[\(chunk.index)].window.from")
            let to = try DriftTimestamp.epochMillis(chunk.window.to, "chunks[\(chunk.index)].window.to")
            rows += chunk.scores.map { DriftResultRow(scope: .chunk(index: chunk.index, from: from, to: to), score: $0) }
        }
        for segment in result.segments {
            rows += segment.scores.map { DriftResultRow(scope: .segment(field: segment.field, value: segment.value), score: $0) }
        }
        results = rows
        quality = result.quality
        performance = result.performance?.metrics ?? []
        labelledRows = result.performance?.labelledRows
    }

    /// The rows over the whole current window (no chunk, no segment), one per feature.
    public var wholeWindowResults: [DriftResultRow] { results.filter { $0.scope == .wholeWindow } }
}

/// One row of `capstan_drift_runs` without the JSON: what a history line or a metric needs.
public struct DriftRunRecord: Sendable, Hashable {
    /// An event-time range (`from` inclusive, `to` exclusive) in Unix epoch milliseconds (UTC),
    /// and its row count.
    public struct Window: Sendable, Hashable {
        public var from: Int64
        public var to: Int64
        public var rows: Int

        public init(from: Int64, to: Int64, rows: Int) {
            self.from = from
            self.to = to
            self.rows = rows
        }
    }

    public var runID: String
    public var namespace: String
    public var policy: String
    public var generation: Int64?
    /// Unix epoch milliseconds (UTC).
    public var startedAt: Int64
    public var finishedAt: Int64
    public var reference: Window
    public var current: Window
    public var totalFeatures: Int
    public var driftedFeatures: Int
    public var datasetDrift: Bool
    /// Quality findings that broke their limit.
    public var qualityProblems: Int
    /// nil when the policy has no `performance`.
    public var performanceDegraded: Bool?

    public init(
        runID: String, namespace: String, policy: String, generation: Int64?, startedAt: Int64, finishedAt: Int64,
        reference: Window, current: Window, totalFeatures: Int, driftedFeatures: Int, datasetDrift: Bool, qualityProblems: Int,
        performanceDegraded: Bool?
    ) {
        self.runID = runID
        self.namespace = namespace
        self.policy = policy
        self.generation = generation
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.reference = reference
        self.current = current
        self.totalFeatures = totalFeatures
        self.driftedFeatures = driftedFeatures
        self.datasetDrift = datasetDrift
        self.qualityProblems = qualityProblems
        self.performanceDegraded = performanceDegraded
    }

    /// The summary of `result`.
    /// - Throws: `.invalidArgument` when one of its times is not RFC 3339.
    public init(_ result: DriftRunResult) throws {
        func millis(_ text: String, _ field: String) throws -> Int64 { try DriftTimestamp.epochMillis(text, field) }
        self.init(
            runID: result.runID, namespace: result.policy.namespace, policy: result.policy.name, generation: result.policy.generation,
            startedAt: try millis(result.startedAt, "startedAt"), finishedAt: try millis(result.finishedAt, "finishedAt"),
            reference: Window(
                from: try millis(result.reference.from, "reference.from"), to: try millis(result.reference.to, "reference.to"),
                rows: result.reference.rows),
            current: Window(
                from: try millis(result.current.from, "current.from"), to: try millis(result.current.to, "current.to"),
                rows: result.current.rows),
            totalFeatures: result.dataset.totalFeatures, driftedFeatures: result.dataset.driftedFeatures,
            datasetDrift: result.dataset.drifted, qualityProblems: result.quality.count(where: \.violated),
            performanceDegraded: result.performance?.degraded)
    }
}

/// One row of `capstan_drift_results`: a feature's score over one scope of a run.
public struct DriftResultRow: Sendable, Hashable {
    /// What part of the current window the score covers.
    public enum Scope: Sendable, Hashable {
        /// The whole current window (`chunk` and `segment_field` NULL).
        case wholeWindow
        /// One chunk; `from` and `to` in Unix epoch milliseconds (UTC).
        case chunk(index: Int, from: Int64, to: Int64)
        /// Both windows restricted to one value of a segment field.
        case segment(field: String, value: String)
    }

    public var scope: Scope
    public var score: FeatureScore

    public init(scope: Scope, score: FeatureScore) {
        self.scope = scope
        self.score = score
    }

    public var feature: String { score.feature }
}

/// RFC 3339 times of a `DriftRunResult` as Unix epoch milliseconds.
enum DriftTimestamp {
    /// `2026-12-07T00:00:00Z`, with an optional fraction (digits beyond milliseconds are
    /// truncated) and `Z` or a `±hh:mm` offset; `t`, `z` and a space for `T` are accepted.
    static func epochMillis(_ text: String, _ field: String) throws -> Int64 {
        guard let millis = parse(Array(text.utf8)) else {
            throw CapstanError(
                .invalidArgument, "drift run \(field) '\(text.prefix(64))' is not an RFC 3339 time such as 2026-12-07T00:00:00Z")
        }
        return millis
    }

    static func parse(_ b: [UInt8]) -> Int64? {
        func number(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= b.count else { return nil }
            var value = 0
            for byte in b[at..<(at + count)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ at: Int, _ allowed: String) -> Bool { at < b.count && allowed.utf8.contains(b[at]) }
        guard let year = number(0, 4), byte(4, "-"), let month = number(5, 2), byte(7, "-"), let day = number(8, 2),
            byte(10, "Tt "), let hour = number(11, 2), byte(13, ":"), let minute = number(14, 2), byte(16, ":"),
            let second = number(17, 2), (1...12).contains(month), (1...daysIn(month, year)).contains(day), hour < 24,
            minute < 60, second <= 60
        else { return nil }
        var i = 19
        var millis = 0
        if byte(i, ".") {
            i += 1
            let start = i
            var scale = 100
            while i < b.count, let digit = number(i, 1) {
                millis += digit * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offsetMinutes = 0
        if byte(i, "Zz") {
            i += 1
        } else if byte(i, "+-") {
            guard let offsetHours = number(i + 1, 2), byte(i + 3, ":"), let offsetMins = number(i + 4, 2), offsetHours < 24,
                offsetMins < 60
            else { return nil }
            offsetMinutes = (b[i] == UInt8(ascii: "-") ? -1 : 1) * (offsetHours * 60 + offsetMins)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = Int64(daysFromCivil(year, month, day)) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59))
            - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
