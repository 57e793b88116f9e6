import CapstanCore
import CapstanDrift
import CapstanPostgres

/// `capstan_drift_performance` (``DriftSchema``, migration 2): one row per realized-performance
/// metric of a run, written in the run's transaction and read back with its other rows.
extension DriftResultStore {
    static let performanceCopySQL = """
        COPY capstan_drift_performance (
            run_id, ordinal, namespace, policy, started_at, metric, reference, current, higher_is_better, labelled_rows)
        FROM STDIN (FORMAT binary)
        """

    static func performanceCopy(_ stored: StoredDriftRun) -> [UInt8] {
        var writer = PostgresCopyBinaryWriter(reservingCapacity: 64 + stored.performance.count * 120)
        for (ordinal, metric) in stored.performance.enumerated() {
            writer.beginRow(fieldCount: 10)
            writer.appendText(stored.run.runID)
            writer.appendInt32(Int32(ordinal))
            writer.appendText(stored.run.namespace)
            writer.appendText(stored.run.policy)
            writer.appendTimestamp(epochMillis: stored.run.startedAt)
            writer.appendText(metric.name)
            for value in [metric.reference, metric.current] {
                if let value { writer.appendFloat64(value) } else { writer.appendNull() }
            }
            writer.appendBool(metric.higherIsBetter)
            writer.appendInt64(Int64(stored.labelledRows ?? 0))
        }
        return writer.finish()
    }

    /// The metrics of the runs `ids` (a text[] bind), in each run's order, with its labelled rows.
    static func performanceRows(
        _ ids: PostgresBind, on c: isolated PostgresConnection
    ) throws -> [String: (metrics: [PerformanceResult.Metric], labelledRows: Int)] {
        let rows = try c.query(
            """
            SELECT run_id, metric, reference, current, higher_is_better, labelled_rows
            FROM capstan_drift_performance WHERE run_id = ANY($1::text[])
            ORDER BY run_id, ordinal
            """, [ids])
        var out: [String: (metrics: [PerformanceResult.Metric], labelledRows: Int)] = [:]
        for row in rows {
            guard let run = try row.string("run_id"), let name = try row.string("metric"), let higher = try row.bool("higher_is_better") else {
                throw CapstanError(.protocolError, "capstan_drift_performance holds a row without run_id, metric or higher_is_better")
            }
            let metric = PerformanceResult.Metric(
                name: name, reference: try row.double("reference"), current: try row.double("current"), higherIsBetter: higher)
            let labelledRows = try row.int("labelled_rows") ?? 0
            out[run, default: ([], labelledRows)].metrics.append(metric)
        }
        return out
    }
}
