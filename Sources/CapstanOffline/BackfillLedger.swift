import CapstanCore
import CapstanPostgres
import Foundation

/// A backfill's progress as `capstan_runs` and its checkpoints record it.
public struct BackfillProgress: Sendable, Hashable, Codable {
    public var runID: Int64
    public var view: String
    public var definitionVersion: Int32
    public var fromMillis: Int64
    public var toMillis: Int64
    /// `running`, `succeeded` or `failed` (a crashed process leaves `running`; resuming is safe).
    public var status: String
    public var eventsTotal: Int64
    public var eventsDone: Int64
    public var rowsWritten: Int64
    public var onlineUpdated: Int64
    public var error: String?
    public var partitionsDone: Int
    public var partitions: Int

    /// Share of the raw events processed, 0...1.
    public var fraction: Double { eventsTotal > 0 ? min(1, Double(eventsDone) / Double(eventsTotal)) : (status == "succeeded" ? 1 : 0) }
}

/// Reads and writes the run ledger for backfills.
enum BackfillLedger {
    static func key(view: String, version: Int32, from: Int64, to: Int64) -> String { "backfill:\(view):\(version):\(from):\(to)" }

    /// The newest run with these inputs, if any.
    static func find(key: String, connection: PostgresConnection) async throws -> (id: Int64, status: String)? {
        let rows = try await connection.query("SELECT id, status FROM capstan_runs WHERE run_key = $1 ORDER BY id DESC LIMIT 1", [.text(key)])
        guard let row = rows.first, let id = try row.int64(at: 0) else { return nil }
        return (id, row.string(at: 1) ?? "")
    }

    static func create(view: String, version: Int32, from: Int64, to: Int64, eventsTotal: Int64, connection: PostgresConnection) async throws -> Int64 {
        let params = "{\"from\": \"\(EpochMillis.format(from))\", \"to\": \"\(EpochMillis.format(to))\", \"from_ms\": \(from), \"to_ms\": \(to)}"
        let rows = try await connection.query(
            """
            INSERT INTO capstan_runs (kind, view, definition_version, run_key, params, status, events_total)
            VALUES ('backfill', $1, $2::int, $3, $4::jsonb, 'running', $5) RETURNING id
            """,
            [.text(view), .int64(Int64(version)), .text(key(view: view, version: version, from: from, to: to)), .text(params), .int64(eventsTotal)])
        guard let id = try rows.first?.int64(at: 0) else { throw CapstanError(.internal, "creating a backfill run returned no id") }
        return id
    }

    static func progress(_ runID: Int64, connection: PostgresConnection) async throws -> BackfillProgress {
        let rows = try await connection.query(
            """
            SELECT r.view, r.definition_version, (r.params->>'from_ms')::bigint, (r.params->>'to_ms')::bigint, r.status, r.events_total,
                   COALESCE(sum(c.events_done), 0)::bigint, COALESCE(sum(c.rows_written), 0)::bigint, COALESCE(sum(c.online_updated), 0)::bigint,
                   r.error, count(c.run_id) FILTER (WHERE c.done)::bigint, count(c.run_id)::bigint
            FROM capstan_runs r LEFT JOIN capstan_backfill_checkpoints c ON c.run_id = r.id
            WHERE r.id = $1 AND r.kind = 'backfill' GROUP BY r.id
            """, [.int64(runID)])
        guard let row = rows.first else { throw CapstanError(.notFound, "no backfill run \(runID)") }
        return BackfillProgress(
            runID: runID, view: row.string(at: 0) ?? "", definitionVersion: Int32(try row.int64(at: 1) ?? 0), fromMillis: try row.int64(at: 2) ?? 0,
            toMillis: try row.int64(at: 3) ?? 0, status: row.string(at: 4) ?? "", eventsTotal: try row.int64(at: 5) ?? 0,
            eventsDone: try row.int64(at: 6) ?? 0, rowsWritten: try row.int64(at: 7) ?? 0, onlineUpdated: try row.int64(at: 8) ?? 0,
            error: row.string(at: 9), partitionsDone: Int(try row.int64(at: 10) ?? 0), partitions: Int(try row.int64(at: 11) ?? 0))
    }

    static func finish(_ runID: Int64, status: String, error: String?, connection: PostgresConnection) async throws {
        _ = try await connection.query(
            """
            UPDATE capstan_runs r SET status = $2, error = $3, updated_ts = now(),
                finished_ts = CASE WHEN $2 = 'running' THEN NULL ELSE now() END,
                events_done = COALESCE((SELECT sum(events_done) FROM capstan_backfill_checkpoints WHERE run_id = r.id), 0),
                rows_written = COALESCE((SELECT sum(rows_written) FROM capstan_backfill_checkpoints WHERE run_id = r.id), 0),
                online_updated = COALESCE((SELECT sum(online_updated) FROM capstan_backfill_checkpoints WHERE run_id = r.id), 0)
            WHERE id = $1
            """, [.int64(runID), .text(status), error.map { .text($0) } ?? .null])
    }

    struct Checkpoint {
        var nextOffset: Int64
        var eventsDone: Int64
        var rowsWritten: Int64
        var onlineUpdated: Int64
        var done: Bool
    }

    static func checkpoints(_ runID: Int64, source: String, connection: PostgresConnection) async throws -> [Int32: Checkpoint] {
        let rows = try await connection.query(
            "SELECT partition, next_offset, events_done, rows_written, online_updated, done FROM capstan_backfill_checkpoints WHERE run_id = $1 AND source = $2",
            [.int64(runID), .text(source)])
        var out: [Int32: Checkpoint] = [:]
        for row in rows {
            out[Int32(try row.int64(at: 0) ?? 0)] = Checkpoint(
                nextOffset: try row.int64(at: 1) ?? 0, eventsDone: try row.int64(at: 2) ?? 0, rowsWritten: try row.int64(at: 3) ?? 0,
                onlineUpdated: try row.int64(at: 4) ?? 0, done: row.string(at: 5) == "t")
        }
        return out
    }

    static func saveCheckpoint(_ runID: Int64, source: String, partition: Int32, _ c: Checkpoint, connection: isolated PostgresConnection) throws {
        _ = try connection.query(
            """
            INSERT INTO capstan_backfill_checkpoints (run_id, source, partition, next_offset, events_done, rows_written, online_updated, done)
            VALUES ($1, $2, $3::int, $4, $5, $6, $7, $8)
            ON CONFLICT (run_id, source, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, events_done = EXCLUDED.events_done,
                rows_written = EXCLUDED.rows_written, online_updated = EXCLUDED.online_updated, done = EXCLUDED.done, updated_ts = now()
            """,
            [.int64(runID), .text(source), .int64(Int64(partition)), .int64(c.nextOffset), .int64(c.eventsDone), .int64(c.rowsWritten),
             .int64(c.onlineUpdated), .bool(c.done)])
        _ = try connection.query(
            """
            UPDATE capstan_runs SET updated_ts = now(),
                events_done = (SELECT sum(events_done) FROM capstan_backfill_checkpoints WHERE run_id = $1),
                rows_written = (SELECT sum(rows_written) FROM capstan_backfill_checkpoints WHERE run_id = $1),
                online_updated = (SELECT sum(online_updated) FROM capstan_backfill_checkpoints WHERE run_id = $1)
            WHERE id = $1
            """, [.int64(runID)])
    }
}
