import CapstanCore
import CapstanFeatures
import CapstanPostgres
import Foundation
import Logging

/// Reads and writes the offline store (see `OfflineSchema` for the layout).
public final class OfflineStore: Sendable {
    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies the schema migrations (idempotent, safe to run from many workers at once).
    public func migrate() async throws {
        _ = try await pool.withConnection { connection in
            try await PostgresMigrator(migrations: OfflineSchema.migrations).migrate(connection, logger: self.logger)
        }
    }

    /// Registers every view's definition (by content hash) and returns each view's version,
    /// in plan order. A definition seen before keeps its version; a changed one gets the next.
    public func register(_ plan: FeaturePlan) async throws -> [Int32] {
        var versions: [Int32] = []
        for view in plan.views {
            let spec = view.canonicalSpec
            let numeric = view.numericFeatures.map { view.features[$0].name }
            let text = view.stringFeatures.map { view.features[$0].name }
            let version = try await pool.withConnection { connection in
                try await connection.transaction { conn in
                    _ = try conn.query("SELECT pg_advisory_xact_lock(hashtext('capstan_feature_definitions'))")
                    let existing = try conn.query(
                        "SELECT version FROM capstan_feature_definitions WHERE view = $1 AND hash = $2",
                        [.text(view.name), .text(view.definitionHash)])
                    if let row = existing.first, let v = try row.int64(at: 0) { return Int32(v) }
                    let inserted = try conn.query(
                        """
                        INSERT INTO capstan_feature_definitions (view, version, hash, spec, numeric_features, string_features)
                        SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3::jsonb, $4::text[], $5::text[]
                        FROM capstan_feature_definitions WHERE view = $1
                        RETURNING version
                        """,
                        [.text(view.name), .text(view.definitionHash), .text(spec), .text(Self.textArrayLiteral(numeric)), .text(Self.textArrayLiteral(text))])
                    guard let v = try inserted.first?.int64(at: 0) else { throw CapstanError(.internal, "registering \(view.name) returned no version") }
                    try LineageEdge.record(try LineageEdge.derive(view: view.name, spec: view.spec), view: view.name, version: Int32(v), on: conn)
                    return Int32(v)
                }
            }
            versions.append(version)
        }
        return versions
    }

    /// The id of source `name` (see `FeatureSources`), registered on first use.
    public func sourceID(of name: String) async throws -> Int32 {
        try await pool.withConnection { try await FeatureSources.id(of: name, on: $0) }
    }

    /// A PostgreSQL array literal of quoted strings.
    static func textArrayLiteral(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }

    /// The next offset to consume per partition, as committed with the rows (absent = none yet;
    /// see `ConsumerOffsets`).
    public func committedOffsets(group: String, topic: String) async throws -> [Int32: Int64] {
        try await pool.withConnection { connection in
            try await connection.transaction { try ConsumerOffsets.read(group: group, topic: topic, on: $0) }
        }
    }

    /// The latest window snapshot of a partition, if any.
    public func snapshot(group: String, topic: String, partition: Int32) async throws -> OfflineBatch.Snapshot? {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT plan_hash, next_offset, encode(state, 'base64') FROM capstan_window_snapshots WHERE group_id = $1 AND topic = $2 AND partition = $3",
                [.text(group), .text(topic), .int64(Int64(partition))])
        }
        guard let row = rows.first, let hash = row.string(at: 0), let next = try row.int64(at: 1), let b64 = row.string(at: 2),
            let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters)
        else { return nil }
        return .init(position: .init(topic: topic, partition: partition), planHash: hash, nextOffset: next, state: [UInt8](data))
    }

    /// Raw events of a source partition with `from <= offset < to`, in offset order, each once
    /// (segments written by several consumer groups may overlap). `body` is called per page of
    /// segments, so a long replay never holds the whole range in memory.
    public func rawEvents(source: String, partition: Int32, from: Int64, to: Int64, segmentsPerPage: Int = 64,
                          _ body: ([RawEvent]) throws -> Void) async throws {
        var cursor = from
        while cursor < to {
            let rows = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT first_offset, last_offset, encode(events, 'base64') FROM capstan_raw_segments
                    WHERE source = $1 AND partition = $2 AND last_offset >= $3 AND first_offset < $4
                    ORDER BY first_offset, last_offset DESC LIMIT \(segmentsPerPage)
                    """,
                    [.text(source), .int64(Int64(partition)), .int64(cursor), .int64(to)])
            }
            if rows.isEmpty { return }
            var page: [RawEvent] = []
            for row in rows {
                guard let b64 = row.string(at: 2), let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters) else {
                    throw CapstanError(.protocolError, "unreadable raw event segment in \(source) partition \(partition)")
                }
                for event in try RawSegment.decode([UInt8](data)) where event.offset >= cursor && event.offset < to {
                    page.append(event)
                    cursor = event.offset + 1
                }
            }
            if page.isEmpty { return }
            try body(page)
        }
    }

    /// Makes a batch durable in one transaction: feature rows and raw events by binary COPY,
    /// next offsets (never moved backwards) and window snapshots.
    ///
    /// `beforeCommit` is awaited after the rows are copied and before the offsets are written
    /// and the transaction commits: the bulk of the work reaches PostgreSQL while whatever must
    /// be durable first (the batch's online write, the previous batch's commit) finishes. If it
    /// throws, the transaction is rolled back and the error rethrown.
    public func commit(_ batch: OfflineBatch, beforeCommit: @escaping @Sendable () async throws -> Void = {}) async throws {
        var batch = batch
        let rows = batch.finishedFeatureRows()
        let raw = batch.finishedRawSegments()
        let group = batch.groupID
        let offsets = batch.nextOffsets
        let snapshots = batch.snapshots
        try await pool.withConnection { connection in
            try await connection.transaction { conn in
                for rows in rows {
                    _ = try conn.copyIn(CopyBuffer.featureRowsCopy, data: rows)
                }
                if let raw {
                    _ = try conn.copyIn(
                        "COPY capstan_raw_segments (source, partition, first_offset, last_offset, event_count, received_ts, events) FROM STDIN (FORMAT binary)",
                        data: raw)
                }
            } awaiting: {
                try await beforeCommit()
            } then: { conn in
                try ConsumerOffsets.advance(group: group, offsets.map { (topic: $0.key.topic, partition: $0.key.partition, next: $0.value) }, on: conn)
                for snapshot in snapshots {
                    _ = try conn.query(
                        """
                        INSERT INTO capstan_window_snapshots (group_id, topic, partition, plan_hash, next_offset, state) VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT (group_id, topic, partition) DO UPDATE
                        SET plan_hash = EXCLUDED.plan_hash, next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, created_ts = now()
                        """,
                        [.text(group), .text(snapshot.position.topic), .int64(Int64(snapshot.position.partition)), .text(snapshot.planHash),
                         .int64(snapshot.nextOffset), .bytes(snapshot.state)])
                }
            }
        }
    }
}
