import CapstanCore
import CapstanPostgres
import Foundation
import Logging

/// A requested feature, `view:feature` (or `view.feature`).
public struct FeatureRef: Sendable, Hashable, CustomStringConvertible {
    public var view: String
    public var feature: String

    public init(view: String, feature: String) {
        self.view = view
        self.feature = feature
    }

    public init(parsing text: String) throws {
        let separator = text.firstIndex(of: ":") ?? text.firstIndex(of: ".")
        guard let separator, separator != text.startIndex, text.index(after: separator) != text.endIndex else {
            throw CapstanError(.invalidArgument, "feature '\(text)' must be written view:feature")
        }
        view = String(text[..<separator])
        feature = String(text[text.index(after: separator)...])
    }

    /// `view:feature`, also the output column name.
    public var description: String { "\(view):\(feature)" }
}

/// What a training set contains.
public struct TrainingSetRequest: Sendable {
    public var features: [FeatureRef]
    /// Definition version per view; views not listed use their latest version.
    public var pins: [String: Int32]
    /// TTL per view in milliseconds, overriding the view's `online.ttl` (0 = no TTL).
    public var ttlOverrides: [String: Int64]
    /// Concurrent COPY streams (each reads its own block range of the table).
    public var parallelism: Int

    public init(features: [FeatureRef], pins: [String: Int32] = [:], ttlOverrides: [String: Int64] = [:], parallelism: Int = 2) {
        self.features = features
        self.pins = pins
        self.ttlOverrides = ttlOverrides
        self.parallelism = parallelism
    }
}

/// How a build went.
public struct TrainingSetStats: Sendable {
    public var labelRows = 0
    /// Offline rows PostgreSQL sent, and those that became a label's candidate.
    public var featureRowsRead = 0
    public var featureRowsMatched = 0
    /// Wall time of the COPY phase (server scan, transfer, decoding), and of the whole build.
    public var readSeconds = 0.0
    public var buildSeconds = 0.0
    /// The definition version used per view.
    public var versions: [String: Int32] = [:]
}

/// Builds point-in-time correct training sets from the offline store.
///
/// For each label row (entity, timestamp t) and each requested `view:feature`, the value is
/// that of the view's offline row for the entity with the latest `event_ts <= t` — and
/// `event_ts >= t - ttl` when the view has a TTL — ties broken by the latest `created_ts`, then
/// the highest source offset. Rows of one definition version per view are used: the latest, or
/// the pinned one.
///
/// How: the label file is held (grouped by entity, sorted by time); every view's rows come
/// from PostgreSQL by binary `COPY ... TO STDOUT`, in `parallelism` streams over disjoint block
/// ranges of `capstan_feature_rows` (one scan of the table for all views). Each row is matched
/// to its entity's labels by binary search and kept if it beats the candidate there; a sweep per
/// entity then carries the latest candidate forward. Feature rows are never held, only one
/// candidate per label and view, so memory is proportional to the label file.
public struct TrainingSetBuilder: Sendable {
    public let pool: PostgresPool
    public let logger: Logger

    public init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    public func build(labels: LabelTable, request: TrainingSetRequest) async throws -> TrainingSet {
        let started = ContinuousClock.now
        guard !request.features.isEmpty else { throw CapstanError(.invalidArgument, "no features requested; pass view:feature,...") }
        var stats = TrainingSetStats()
        stats.labelRows = labels.count
        let registry = FeatureRegistry(pool: pool)
        // Views in order of first mention; columns in request order.
        var views: [ViewRequest] = []
        var columns: [TrainingSet.Column] = []
        var seen = Set<FeatureRef>()
        for ref in request.features {
            guard seen.insert(ref).inserted else { throw CapstanError(.invalidArgument, "feature \(ref) is requested twice") }
            var v = views.firstIndex { $0.view == ref.view }
            if v == nil {
                let definition = try await registry.definition(of: ref.view, version: request.pins[ref.view])
                let ttl = try request.ttlOverrides[ref.view] ?? definition.ttlMillis()
                views.append(ViewRequest(view: ref.view, definition: definition, numericIndices: [], textIndices: [], ttlMicros: max(0, ttl) * 1000))
                stats.versions[ref.view] = definition.version
                v = views.count - 1
            }
            let d = views[v!].definition
            if let i = d.numericFeatures.firstIndex(of: ref.feature) {
                columns.append(.init(name: ref.description, view: v!, text: false, slot: views[v!].numericIndices.count))
                views[v!].numericIndices.append(i)
            } else if let i = d.stringFeatures.firstIndex(of: ref.feature) {
                columns.append(.init(name: ref.description, view: v!, text: true, slot: views[v!].textIndices.count))
                views[v!].textIndices.append(i)
            } else {
                throw CapstanError(
                    .notFound,
                    "FeatureView '\(ref.view)' version \(d.version) has no feature '\(ref.feature)' (features: \((d.numericFeatures + d.stringFeatures).joined(separator: ", ")))")
            }
        }
        for pin in request.pins.keys where !views.contains(where: { $0.view == pin }) {
            throw CapstanError(.invalidArgument, "--pin names view '\(pin)', but no feature of it is requested")
        }

        var merged: [ViewAccumulator] = []
        if labels.count > 0 {
            let readStart = ContinuousClock.now
            let tasks = try await scan(labels: labels, views: views, parallelism: max(1, request.parallelism))
            stats.readSeconds = (ContinuousClock.now - readStart).inSeconds
            stats.featureRowsRead = tasks.reduce(0) { $0 + $1.rowsRead }
            stats.featureRowsMatched = tasks.reduce(0) { $0 + $1.rowsMatched }
            merged = views.indices.map { v in
                let first = tasks[0].accumulators[v]
                for task in tasks.dropFirst() { first.merge(task.accumulators[v]) }
                return first
            }
        } else {
            merged = views.map { ViewAccumulator(count: 0, numericCount: $0.numericIndices.count, textCount: $0.textIndices.count) }
        }
        let resolved = views.indices.map { v in Self.sweep(labels: labels, accumulator: merged[v], ttlMicros: views[v].ttlMicros) }
        stats.buildSeconds = (ContinuousClock.now - started).inSeconds
        return TrainingSet(labels: labels, views: views, accumulators: merged, resolved: resolved, columns: columns, stats: stats)
    }

    /// For every label position, the position whose candidate is its value (-1 = none): the
    /// latest candidate at or before it within the entity, if not older than the TTL.
    static func sweep(labels: LabelTable, accumulator acc: ViewAccumulator, ttlMicros: Int64) -> [Int32] {
        var resolved = [Int32](repeating: -1, count: labels.count)
        let entityCount = labels.entityStart.count - 1
        for e in 0..<entityCount {
            var carry = -1
            for p in Int(labels.entityStart[e])..<Int(labels.entityStart[e + 1]) {
                if acc.bestMicros[p] != ViewAccumulator.none { carry = p }
                guard carry >= 0 else { continue }
                if ttlMicros > 0 && acc.bestMicros[carry] < labels.sortedMicros[p] - ttlMicros { continue }
                resolved[p] = Int32(carry)
            }
        }
        return resolved
    }

    /// Reads every requested view's rows in `parallelism` block ranges, concurrently.
    func scan(labels: LabelTable, views: [ViewRequest], parallelism: Int) async throws -> [ScanTask] {
        let blocks = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT (pg_relation_size('capstan_feature_rows') / current_setting('block_size')::bigint)::bigint")
        }.first.flatMap { try $0.int64(at: 0) } ?? 0
        let streams = blocks >= Int64(parallelism) * 64 ? parallelism : 1
        let step = blocks / Int64(streams)
        let sql = try await pool.withConnection { connection in
            try await Self.conditions(views: views, labels: labels, connection: connection)
        }
        var statements: [String] = []
        for s in 0..<streams {
            var range = "ctid >= '(\(Int64(s) * step),0)'::tid"
            if s < streams - 1 { range += " AND ctid < '(\(Int64(s + 1) * step),0)'::tid" }
            let numbers = views.contains { !$0.numericIndices.isEmpty } ? "num" : "NULL::float8[]"
            let texts = views.contains { !$0.textIndices.isEmpty } ? "txt" : "NULL::text[]"
            statements.append(
                """
                COPY (SELECT view, entity, event_ts, created_ts, source_offset, \(numbers), \(texts)
                FROM capstan_feature_rows WHERE \(streams > 1 ? range + " AND " : "")(\(sql))) TO STDOUT (FORMAT binary)
                """)
        }
        return try await withThrowingTaskGroup(of: ScanTask.self) { group in
            for statement in statements {
                let task = ScanTask(labels: labels, views: views)
                group.addTask {
                    _ = try await pool.withConnection { connection in
                        try await connection.copyOut(statement) { @Sendable message in try task.consume(message) }
                    }
                    return task
                }
            }
            var done: [ScanTask] = []
            for try await task in group { done.append(task) }
            return done
        }
    }

    /// The WHERE clause selecting each view's rows of its definition version in the labels' time span.
    static func conditions(views: [ViewRequest], labels: LabelTable, connection: PostgresConnection) async throws -> String {
        var parts: [String] = []
        for view in views {
            var part = "view = \(try await connection.literal(view.view)) AND definition_version = \(view.definition.version)"
            part += " AND event_ts <= '\(PostgresTimestamp.literal(micros: labels.maxMicros))'::timestamptz"
            if view.ttlMicros > 0 {
                part += " AND event_ts >= '\(PostgresTimestamp.literal(micros: labels.minMicros - view.ttlMicros))'::timestamptz"
            }
            parts.append("(\(part))")
        }
        return parts.joined(separator: " OR ")
    }

}

/// A built training set: the label rows with their point-in-time feature values, written out
/// as CSV in the label file's row order.
public final class TrainingSet: Sendable {
    struct Column: Sendable {
        var name: String
        var view: Int
        var text: Bool
        var slot: Int
    }

    let labels: LabelTable
    let views: [ViewRequest]
    let accumulators: [ViewAccumulator]
    let resolved: [[Int32]]
    let columns: [Column]
    public let stats: TrainingSetStats

    init(labels: LabelTable, views: [ViewRequest], accumulators: [ViewAccumulator], resolved: [[Int32]], columns: [Column], stats: TrainingSetStats) {
        self.labels = labels
        self.views = views
        self.accumulators = accumulators
        self.resolved = resolved
        self.columns = columns
        self.stats = stats
    }

    /// The output header: the label file's columns, then one per requested feature.
    public var header: [String] { labels.header + columns.map(\.name) }

    public var rowCount: Int { labels.count }

    /// Writes the CSV (header first) to `sink` in chunks of about `chunkBytes`. Nulls are empty
    /// fields; numbers are written as the online store writes them.
    public func write(chunkBytes: Int = 1 << 20, to sink: ([UInt8]) async throws -> Void) async throws {
        var out: [UInt8] = []
        out.reserveCapacity(chunkBytes + 4096)
        for (i, name) in header.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            CSVWriter.appendField(name, to: &out)
        }
        out.append(UInt8(ascii: "\n"))
        for row in 0..<labels.count {
            out.append(contentsOf: labels.passthrough[labels.passStart[row]..<labels.passStart[row + 1]])
            let p = Int(labels.positionOf[row])
            for column in columns {
                out.append(UInt8(ascii: ","))
                let source = Int(resolved[column.view][p])
                guard source >= 0 else { continue }
                let acc = accumulators[column.view]
                if column.text {
                    if let text = acc.texts[source * acc.textCount + column.slot] { CSVWriter.appendField(text, to: &out) }
                } else {
                    let x = acc.numbers[source * acc.numericCount + column.slot]
                    if x.bitPattern != ViewAccumulator.null.bitPattern { CSVWriter.appendNumber(x, to: &out) }
                }
            }
            out.append(UInt8(ascii: "\n"))
            if out.count >= chunkBytes {
                try await sink(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { try await sink(out) }
    }
}
