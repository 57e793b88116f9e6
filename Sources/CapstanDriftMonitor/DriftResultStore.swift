import CapstanCore
import CapstanDrift
import CapstanPostgres
import Foundation
import Logging

/// Stores drift runs in PostgreSQL and reads them back (layout: `DriftSchema`).
///
/// Every statement runs on a pooled `PostgresConnection`, whose own thread makes the blocking
/// libpq calls; rows are decoded there too, never on the cooperative pool.
public final class DriftResultStore: Sendable {
    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies `DriftSchema.migrations` (idempotent, safe from many processes at once).
    public func migrate() async throws {
        let logger = logger
        _ = try await pool.withConnection { connection in
            try await DriftSchema.migrator.migrate(connection, logger: logger)
        }
    }

    /// Stores `result` in one transaction: its run row, one results row per feature and scope
    /// (whole window, chunk, segment; by binary COPY) and its quality findings.
    ///
    /// Idempotent: when a run with the same `runID` is stored already, nothing is written (the
    /// run row is inserted `ON CONFLICT DO NOTHING` and the rest skipped), so a retried or
    /// re-run write adds no rows. Concurrent writers of one run id wait for each other and exactly
    /// one stores it.
    /// - Returns: true when the run was stored by this call, false when it was there already.
    /// - Throws: `.invalidArgument` when a time in `result` is not RFC 3339 or a text holds a NUL
    ///   character; the server's error (nothing is written) otherwise.
    @discardableResult
    public func write(_ result: DriftRunResult) async throws -> Bool {
        let stored = try StoredDriftRun(result)
        let json = try DriftResultJSON.encode(result)
        let run = stored.run
        let runRow: [PostgresBind] = [
            .text(run.runID), .text(run.namespace), .text(run.policy), run.generation.map { .int64($0) } ?? .null,
            .timestamp(epochMillis: run.startedAt), .timestamp(epochMillis: run.finishedAt),
            .timestamp(epochMillis: run.reference.from), .timestamp(epochMillis: run.reference.to),
            .timestamp(epochMillis: run.current.from), .timestamp(epochMillis: run.current.to),
            .int64(Int64(run.reference.rows)), .int64(Int64(run.current.rows)), .int64(Int64(run.totalFeatures)),
            .int64(Int64(run.driftedFeatures)), .bool(run.datasetDrift), .int64(Int64(run.qualityProblems)),
            run.performanceDegraded.map { .bool($0) } ?? .null, .text(json),
        ]
        let results = stored.results.isEmpty ? nil : Self.resultsCopy(stored)
        let quality = stored.quality.isEmpty ? nil : Self.qualityCopy(stored)
        let performance = stored.performance.isEmpty ? nil : Self.performanceCopy(stored)
        let written = try await pool.withConnection { connection in
            try await connection.transaction { c -> Bool in
                let inserted = try c.query(
                    """
                    INSERT INTO capstan_drift_runs (
                        run_id, namespace, policy, generation, started_at, finished_at, reference_from, reference_to,
                        current_from, current_to, reference_rows, current_rows, total_features, drifted_features,
                        dataset_drift, quality_problems, performance_degraded, result)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::int, $14::int, $15, $16::int, $17, $18::jsonb)
                    ON CONFLICT (run_id) DO NOTHING
                    RETURNING run_id
                    """, runRow)
                guard !inserted.isEmpty else { return false }
                if let results { _ = try c.copyIn(Self.resultsCopySQL, data: results) }
                if let quality { _ = try c.copyIn(Self.qualityCopySQL, data: quality) }
                if let performance { _ = try c.copyIn(Self.performanceCopySQL, data: performance) }
                return true
            }
        }
        logger.info(
            written ? "stored drift run" : "drift run was stored already",
            metadata: [
                "drift.run": "\(run.runID)", "drift.policy": "\(run.namespace)/\(run.policy)",
                "drift.rows": "\(stored.results.count)",
            ])
        return written
    }

    /// The runs of one policy, newest first (by start time, then run id), at most `limit`.
    ///
    /// Each comes with its whole-window rows (only `feature`'s when given; then only runs that
    /// scored `feature` are listed) and all its quality findings. For `capstan drift history`.
    /// - Throws: `.invalidArgument` when `limit` is not positive.
    public func history(namespace: String, policy: String, feature: String? = nil, limit: Int = 20) async throws -> [StoredDriftRun] {
        guard limit > 0 else { throw CapstanError(.invalidArgument, "history limit must be at least 1, not \(limit)") }
        return try await read { c in
            let runs: PostgresRows
            if let feature {
                runs = try c.query(
                    """
                    SELECT \(Self.runColumns) FROM capstan_drift_runs
                    WHERE namespace = $1 AND policy = $2 AND run_id IN (
                        SELECT run_id FROM capstan_drift_results
                        WHERE namespace = $1 AND policy = $2 AND feature = $3 AND chunk IS NULL AND segment_field IS NULL)
                    ORDER BY started_at DESC, run_id DESC LIMIT $4
                    """, [.text(namespace), .text(policy), .text(feature), .int64(Int64(limit))])
            } else {
                runs = try c.query(
                    """
                    SELECT \(Self.runColumns) FROM capstan_drift_runs
                    WHERE namespace = $1 AND policy = $2
                    ORDER BY started_at DESC, run_id DESC LIMIT $3
                    """, [.text(namespace), .text(policy), .int64(Int64(limit))])
            }
            return try Self.assemble(runs, on: c, wholeWindowOnly: true, feature: feature)
        }
    }

    /// The newest run (by start time, then run id) of every policy that has one, ordered by
    /// namespace and policy, each with all its rows (whole window, chunks, segments) and quality
    /// findings: what `DriftMetrics.render` exports.
    public func latestRuns() async throws -> [StoredDriftRun] {
        try await read { c in
            let runs = try c.query(
                """
                SELECT \(Self.runColumns) FROM (
                    SELECT DISTINCT ON (namespace, policy) * FROM capstan_drift_runs
                    ORDER BY namespace, policy, started_at DESC, run_id DESC) latest
                ORDER BY namespace, policy
                """)
            return try Self.assemble(runs, on: c, wholeWindowOnly: false, feature: nil)
        }
    }

    /// The stored result of run `id` exactly as written (decoded from `result`), or nil when
    /// there is no such run.
    public func run(id: String) async throws -> DriftRunResult? {
        let json = try await read { c in
            try c.query("SELECT result::text AS result FROM capstan_drift_runs WHERE run_id = $1", [.text(id)]).first?.string("result")
        }
        guard let json else { return nil }
        do {
            return try DriftResultJSON.decode(json)
        } catch {
            throw CapstanError(.protocolError, "stored drift run \(id) does not decode as a DriftRunResult: \(error)")
        }
    }

    // MARK: - Reading

    private func read<T: Sendable>(_ body: @escaping @Sendable (isolated PostgresConnection) throws -> T) async throws -> T {
        try await pool.withConnection { connection in try await connection.transaction(body) }
    }

    /// Run columns, times as epoch milliseconds (rounded: they were written as whole ones).
    private static let runColumns = """
        run_id, namespace, policy, generation, \(millis("started_at")), \(millis("finished_at")),
        \(millis("reference_from")), \(millis("reference_to")), \(millis("current_from")), \(millis("current_to")),
        reference_rows, current_rows, total_features, drifted_features, dataset_drift, quality_problems, performance_degraded
        """

    private static func millis(_ column: String) -> String {
        "round(extract(epoch FROM \(column)) * 1000)::bigint AS \(column)"
    }

    /// Loads the rows of `runs` and puts each run together, in the order of `runs`.
    private static func assemble(
        _ runs: PostgresRows, on c: isolated PostgresConnection, wholeWindowOnly: Bool, feature: String?
    ) throws -> [StoredDriftRun] {
        let records = try runs.map(record)
        guard !records.isEmpty else { return [] }
        let ids = PostgresBind.text(textArray(records.map(\.runID)))
        var filter = wholeWindowOnly ? " AND chunk IS NULL AND segment_field IS NULL" : ""
        var binds = [ids]
        if let feature {
            filter += " AND feature = $2"
            binds.append(.text(feature))
        }
        let resultRows = try c.query(
            """
            SELECT run_id, feature, kind, chunk, \(millis("chunk_from")), \(millis("chunk_to")), segment_field, segment_value,
                   method, score, p_value, statistic, threshold, lower, upper, decision, reason, reference_count, current_count
            FROM capstan_drift_results WHERE run_id = ANY($1::text[])\(filter)
            ORDER BY run_id, ordinal
            """, binds)
        let qualityRows = try c.query(
            """
            SELECT run_id, check_name, feature, value, limit_value, violated, message
            FROM capstan_drift_quality WHERE run_id = ANY($1::text[])
            ORDER BY run_id, ordinal
            """, [ids])
        var results: [String: [DriftResultRow]] = [:]
        for row in resultRows { results[try text(row, "run_id"), default: []].append(try resultRow(row)) }
        var quality: [String: [QualityFinding]] = [:]
        for row in qualityRows { quality[try text(row, "run_id"), default: []].append(try finding(row)) }
        let performance = try performanceRows(ids, on: c)
        return records.map {
            StoredDriftRun(
                run: $0, results: results[$0.runID] ?? [], quality: quality[$0.runID] ?? [], performance: performance[$0.runID]?.metrics ?? [],
                labelledRows: performance[$0.runID]?.labelledRows)
        }
    }

    private static func record(_ row: PostgresRow) throws -> DriftRunRecord {
        DriftRunRecord(
            runID: try text(row, "run_id"), namespace: try text(row, "namespace"), policy: try text(row, "policy"),
            generation: try row.int64("generation"), startedAt: try int64(row, "started_at"), finishedAt: try int64(row, "finished_at"),
            reference: .init(from: try int64(row, "reference_from"), to: try int64(row, "reference_to"), rows: try int(row, "reference_rows")),
            current: .init(from: try int64(row, "current_from"), to: try int64(row, "current_to"), rows: try int(row, "current_rows")),
            totalFeatures: try int(row, "total_features"), driftedFeatures: try int(row, "drifted_features"),
            datasetDrift: try required(row.bool("dataset_drift"), "dataset_drift"), qualityProblems: try int(row, "quality_problems"),
            performanceDegraded: try row.bool("performance_degraded"))
    }

    private static func resultRow(_ row: PostgresRow) throws -> DriftResultRow {
        let scope: DriftResultRow.Scope
        if let chunk = try row.int("chunk") {
            scope = .chunk(index: chunk, from: try int64(row, "chunk_from"), to: try int64(row, "chunk_to"))
        } else if let field = try row.string("segment_field") {
            scope = .segment(field: field, value: try text(row, "segment_value"))
        } else {
            scope = .wholeWindow
        }
        let method = try row.string("method").map { name in
            guard let method = DriftMethod(rawValue: name) else { throw unknown("method", name) }
            return method
        }
        let kindName = try text(row, "kind")
        guard let kind = ColumnKind(rawValue: kindName) else { throw unknown("kind", kindName) }
        let decisionName = try text(row, "decision")
        guard let decision = DriftDecision(rawValue: decisionName) else { throw unknown("decision", decisionName) }
        return DriftResultRow(
            scope: scope,
            score: FeatureScore(
                feature: try text(row, "feature"), kind: kind, method: method, score: try row.double("score"),
                pValue: try row.double("p_value"), statistic: try row.double("statistic"), threshold: try row.double("threshold"),
                lower: try row.double("lower"), upper: try row.double("upper"), decision: decision, reason: try row.string("reason"),
                referenceCount: try int(row, "reference_count"), currentCount: try int(row, "current_count")))
    }

    private static func finding(_ row: PostgresRow) throws -> QualityFinding {
        let checkName = try text(row, "check_name")
        guard let check = QualityFinding.Check(rawValue: checkName) else { throw unknown("check_name", checkName) }
        return QualityFinding(
            check: check, feature: try row.string("feature"), value: try required(row.double("value"), "value"),
            limit: try row.double("limit_value"), violated: try required(row.bool("violated"), "violated"),
            message: try text(row, "message"))
    }

    private static func text(_ row: PostgresRow, _ column: String) throws -> String { try required(row.string(column), column) }
    private static func int64(_ row: PostgresRow, _ column: String) throws -> Int64 { try required(row.int64(column), column) }
    private static func int(_ row: PostgresRow, _ column: String) throws -> Int { try required(row.int(column), column) }

    private static func required<T>(_ value: T?, _ column: String) throws -> T {
        guard let value else { throw CapstanError(.protocolError, "drift results column \(column) is NULL") }
        return value
    }

    private static func unknown(_ column: String, _ value: String) -> CapstanError {
        CapstanError(.protocolError, "drift results column \(column) holds '\(value)', which this version does not know")
    }

    /// A PostgreSQL array literal of quoted strings (`{"a","b\"c"}`).
    static func textArray(_ items: [String]) -> String {
        let quoted = items.map { item in
            "\"" + item.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return "{" + quoted.joined(separator: ",") + "}"
    }

    // MARK: - Writing

    static let resultsCopySQL = """
        COPY capstan_drift_results (
            run_id, ordinal, namespace, policy, started_at, feature, kind, chunk, chunk_from, chunk_to, segment_field,
            segment_value, method, score, p_value, statistic, threshold, lower, upper, decision, reason, reference_count,
            current_count) FROM STDIN (FORMAT binary)
        """

    static let qualityCopySQL = """
        COPY capstan_drift_quality (run_id, ordinal, check_name, feature, value, limit_value, violated, message)
        FROM STDIN (FORMAT binary)
        """

    static func resultsCopy(_ stored: StoredDriftRun) -> [UInt8] {
        var writer = PostgresCopyBinaryWriter(reservingCapacity: 64 + stored.results.count * 200)
        for (ordinal, row) in stored.results.enumerated() {
            let score = row.score
            writer.beginRow(fieldCount: 23)
            writer.appendText(stored.run.runID)
            writer.appendInt32(Int32(ordinal))
            writer.appendText(stored.run.namespace)
            writer.appendText(stored.run.policy)
            writer.appendTimestamp(epochMillis: stored.run.startedAt)
            writer.appendText(score.feature)
            writer.appendText(score.kind.rawValue)
            switch row.scope {
            case .wholeWindow:
                for _ in 0..<5 { writer.appendNull() }
            case .chunk(let index, let from, let to):
                writer.appendInt32(Int32(clamping: index))
                writer.appendTimestamp(epochMillis: from)
                writer.appendTimestamp(epochMillis: to)
                writer.appendNull()
                writer.appendNull()
            case .segment(let field, let value):
                for _ in 0..<3 { writer.appendNull() }
                writer.appendText(field)
                writer.appendText(value)
            }
            writer.appendOptionalText(score.method?.rawValue)
            for value in [score.score, score.pValue, score.statistic, score.threshold, score.lower, score.upper] {
                writer.appendOptionalFloat64(value)
            }
            writer.appendText(score.decision.rawValue)
            writer.appendOptionalText(score.reason)
            writer.appendInt64(Int64(score.referenceCount))
            writer.appendInt64(Int64(score.currentCount))
        }
        return writer.finish()
    }

    static func qualityCopy(_ stored: StoredDriftRun) -> [UInt8] {
        var writer = PostgresCopyBinaryWriter(reservingCapacity: 64 + stored.quality.count * 160)
        for (ordinal, finding) in stored.quality.enumerated() {
            writer.beginRow(fieldCount: 8)
            writer.appendText(stored.run.runID)
            writer.appendInt32(Int32(ordinal))
            writer.appendText(finding.check.rawValue)
            writer.appendOptionalText(finding.feature)
            writer.appendFloat64(finding.value)
            writer.appendOptionalFloat64(finding.limit)
            writer.appendBool(finding.violated)
            writer.appendText(finding.message)
        }
        return writer.finish()
    }
}

extension PostgresCopyBinaryWriter {
    fileprivate mutating func appendOptionalText(_ value: String?) {
        if let value { appendText(value) } else { appendNull() }
    }

    fileprivate mutating func appendOptionalFloat64(_ value: Double?) {
        if let value { appendFloat64(value) } else { appendNull() }
    }
}

/// The JSON of a `DriftRunResult` in `capstan_drift_runs.result`: keys sorted, and the
/// non-finite numbers JSON has no spelling for (an infinite statistic) as the strings
/// `"Infinity"`, `"-Infinity"` and `"NaN"`.
public enum DriftResultJSON {
    public static func encode(_ result: DriftRunResult) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return String(decoding: try encoder.encode(result), as: UTF8.self)
    }

    public static func decode(_ json: String) throws -> DriftRunResult {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(DriftRunResult.self, from: Data(json.utf8))
    }
}
