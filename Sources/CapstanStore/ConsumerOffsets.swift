import CapstanPostgres

/// The consumer offsets kept in PostgreSQL (`capstan_consumer_offsets`): the next offset to
/// consume per (consumer group, topic, partition), written in the same transaction as the rows
/// those offsets cover. This is what makes a writer's replays duplicate-free: after a crash or a
/// rebalance the consumer seeks to these offsets (not Kafka's), so it re-reads exactly what was
/// not committed with its rows. The one writer of that table; the feature worker
/// (`OfflineStore.commit`) and the prediction log both go through it.
public enum ConsumerOffsets {
    /// The next offset per partition of `topic` for `group` (absent: nothing committed yet).
    public static func read(group: String, topic: String, on connection: isolated PostgresConnection) throws -> [Int32: Int64] {
        let rows = try connection.query(
            "SELECT partition, next_offset FROM capstan_consumer_offsets WHERE group_id = $1 AND topic = $2",
            [.text(group), .text(topic)])
        var out: [Int32: Int64] = [:]
        for row in rows {
            if let p = try row.int64(at: 0), let o = try row.int64(at: 1) { out[Int32(p)] = o }
        }
        return out
    }

    /// Inside a transaction: waits until no other transaction of `group` on `topic` holds the
    /// lock, and holds it until this one ends. A writer that reads the offsets after taking it
    /// (``read(group:topic:on:)``) and skips records below them writes each record once even
    /// when two members of a group briefly both believe they own a partition (a rebalance
    /// in progress, a stalled process that lost its assignment).
    public static func lock(group: String, topic: String, on connection: isolated PostgresConnection) throws {
        _ = try connection.query("SELECT pg_advisory_xact_lock(hashtext('capstan_consumer_offsets'), hashtext($1::text || '/' || $2::text))", [.text(group), .text(topic)])
    }

    /// Inside a transaction: records the next offsets; an offset never moves backwards.
    public static func advance(group: String, _ offsets: some Sequence<(topic: String, partition: Int32, next: Int64)>,
                               on connection: isolated PostgresConnection) throws {
        for (topic, partition, next) in offsets {
            _ = try connection.query(
                """
                INSERT INTO capstan_consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
                ON CONFLICT (group_id, topic, partition) DO UPDATE
                SET next_offset = GREATEST(capstan_consumer_offsets.next_offset, EXCLUDED.next_offset), updated_ts = now()
                """,
                [.text(group), .text(topic), .int64(Int64(partition)), .int64(next)])
        }
    }
}
