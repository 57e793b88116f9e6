import CapstanCore
import CapstanPostgres
import CapstanStore
import Logging

/// Writes prediction batches to `capstan_predictions` and `capstan_prediction_rejects`
/// (migration 6 of `OfflineSchema`), exactly once per consumer group.
public final class PredictionLogStore: Sendable {
    public let pool: PostgresPool
    public let group: String
    private let offline: OfflineStore

    public init(pool: PostgresPool, group: String, logger: Logger) {
        self.pool = pool
        self.group = group
        offline = OfflineStore(pool: pool, logger: logger)
    }

    /// Applies the offline schema (the prediction log is its migration 6).
    public func migrate() async throws { try await offline.migrate() }

    /// The next offset per partition of `topic`, as committed with the rows.
    public func committedOffsets(topic: String) async throws -> [Int32: Int64] {
        try await offline.committedOffsets(group: group, topic: topic)
    }

    /// What a commit stored (after dropping records an earlier commit already holds).
    public struct Committed: Sendable {
        public var rows: Int
        public var rejects: [PredictionReject]
        /// Records that were already stored (a replay after a lost commit answer, or a
        /// partition that briefly had two owners).
        public var alreadyStored: Int
    }

    /// Makes a batch durable in one transaction: the rows and rejects by binary COPY and the
    /// group's next offsets. Under the group's offsets lock, records below the stored offsets
    /// are dropped first, so a batch committed twice, or by two consumers that both believed
    /// they owned a partition, stores each record once.
    public func commit(_ batch: PredictionBatch) async throws -> Committed {
        guard !batch.isEmpty else { return Committed(rows: 0, rejects: [], alreadyStored: 0) }
        let group = self.group
        let encodedRows = batch.encodedRows()
        let encodedRejects = batch.encodedRejects()
        return try await pool.withConnection { connection in
            try await connection.transaction { conn in
                try ConsumerOffsets.lock(group: group, topic: batch.topic, on: conn)
                let stored = try ConsumerOffsets.read(group: group, topic: batch.topic, on: conn)
                var fresh = batch
                fresh.dropStored(below: stored)
                let stale = batch.rows.count + batch.rejects.count - fresh.rows.count - fresh.rejects.count
                // The common case copies what was encoded outside the transaction.
                if let rows = stale == 0 ? encodedRows : fresh.encodedRows() {
                    _ = try conn.copyIn(PredictionBatch.rowsCopy, data: rows)
                }
                if let rejects = stale == 0 ? encodedRejects : fresh.encodedRejects() {
                    _ = try conn.copyIn(PredictionBatch.rejectsCopy, data: rejects)
                }
                try ConsumerOffsets.advance(
                    group: group, batch.nextOffsets.map { (topic: batch.topic, partition: $0.key, next: $0.value) }, on: conn)
                return Committed(rows: fresh.rows.count, rejects: fresh.rejects, alreadyStored: stale)
            }
        }
    }
}
