import CapstanCore
import CapstanFeatures
import CapstanPostgres
import CapstanStore
import Foundation
import Logging

/// Writes the bench data into the offline store as the feature worker and uploads do: one
/// definition of the view `bench_drift` (the numeric features in `num`, the categorical ones in
/// `txt`, in the manifest's order) and one `capstan_feature_rows` row per window row by binary
/// COPY (``CopyBuffer/appendFeatureRow``), missing values as NULL elements. Skipped when the
/// table already holds this data set (a marker table names it).
enum OfflineLoad {
    static let view = "bench_drift"
    static let rowsPerCopy = 20_000

    /// Returns the seconds the load took, or nil when the data was already there.
    static func ensureLoaded(_ data: BenchData, pool: PostgresPool, logger: Logger) async throws -> Double? {
        let loaded = try await pool.withConnection { connection in
            try await connection.execute("CREATE TABLE IF NOT EXISTS bench_drift_loaded (identity text NOT NULL)")
            return try await connection.query("SELECT identity FROM bench_drift_loaded").first.flatMap { $0.string(at: 0) }
        }
        if loaded == data.identity { return nil }
        let start = ContinuousClock.now
        let numeric = data.manifest.numeric, categorical = data.manifest.categorical
        try await pool.withConnection { connection in
            try await connection.execute("TRUNCATE capstan_feature_rows, bench_drift_loaded")
            try await connection.execute("DELETE FROM capstan_feature_definitions WHERE view = '\(view)'")
            _ = try await connection.query(
                """
                INSERT INTO capstan_feature_definitions (view, version, hash, spec, numeric_features, string_features)
                VALUES ($1, 1, 'bench', '{}', $2::text[], $3::text[])
                """,
                [.text(view), .text("{" + numeric.joined(separator: ",") + "}"), .text("{" + categorical.joined(separator: ",") + "}")])
        }
        let sourceID = try await OfflineStore(pool: pool, logger: logger).sourceID(of: FeatureSources.kafka("bench-drift"))
        // The two sides in parallel, each encoding its next COPY payload while the previous one is written.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for side in [BenchData.Side.reference, .current] {
                group.addTask { try await load(side, data, sourceID: sourceID, pool: pool) }
            }
            try await group.waitForAll()
        }
        try await pool.withConnection { connection in
            try await connection.execute("VACUUM (FREEZE, ANALYZE) capstan_feature_rows")
            _ = try await connection.query("INSERT INTO bench_drift_loaded (identity) VALUES ($1)", [.text(data.identity)])
        }
        return (ContinuousClock.now - start).inSeconds
    }

    private static func load(_ side: BenchData.Side, _ data: BenchData, sourceID: Int32, pool: PostgresPool) async throws {
        let n = data.manifest.rows
        let numbers = try data.manifest.numeric.map { try data.numbers(side, $0) }
        let texts = try data.manifest.categorical.map { try data.texts(side, $0) }
        let numericIndices = Array(0..<numbers.count)
        let stringIndices = Array(numbers.count..<(numbers.count + texts.count))
        let prefix = side == .reference ? "r" : "c"
        try await pool.withConnection { connection in
            try await connection.execute("SET synchronous_commit = off")
            var pending: Task<Void, any Error>?
            var values = [FeatureValue](repeating: .null, count: numbers.count + texts.count)
            for first in stride(from: 0, to: n, by: rowsPerCopy) {
                var buffer = CopyBuffer(capacity: rowsPerCopy * 800)
                for i in first..<min(first + rowsPerCopy, n) {
                    for (k, column) in numbers.enumerated() { values[k] = column[i].isNaN ? .null : .number(column[i]) }
                    for (k, column) in texts.enumerated() { values[numbers.count + k] = column[i].map(FeatureValue.string) ?? .null }
                    let event = BenchData.eventMillis(side: side, row: i, rows: n)
                    buffer.appendFeatureRow(
                        view: view, entity: prefix + String(i), eventTimeMillis: event, createdMillis: event + 1000, definitionVersion: 1,
                        sourceID: sourceID, partition: side == .reference ? 0 : 1, offset: Int64(i), values: values,
                        numeric: numericIndices, strings: stringIndices)
                }
                try await pending?.value
                let payload = buffer.finish()
                pending = Task { _ = try await connection.copyIn(CopyBuffer.featureRowsCopy, data: payload) }
            }
            try await pending?.value
        }
    }
}
