import CapstanCore
import CapstanPostgres

/// The sources feature rows come from, by id (`capstan_sources`, migration 5): a Kafka topic
/// (`kafka:<topic>`) or an upload (`upload:<upload_id>`). A feature row carries the 4-byte id
/// in `source_id`; the raw logs and the backfill checkpoints keep the names.
public enum FeatureSources {
    /// The name of a Kafka topic's source.
    public static func kafka(_ topic: String) -> String { "kafka:\(topic)" }

    /// The name of an upload's source.
    public static func upload(_ uploadID: String) -> String { "upload:\(uploadID)" }

    /// The id of source `name`, registered on first use. Inside a transaction the registration
    /// commits or rolls back with it, and a concurrent registration of the same name waits for
    /// that transaction to end, then reads the id.
    public static func id(of name: String, on connection: isolated PostgresConnection) throws -> Int32 {
        let inserted = try connection.query(
            "INSERT INTO capstan_sources (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id", [.text(name)])
        if let id = try inserted.first?.int64(at: 0) { return Int32(id) }
        let existing = try connection.query("SELECT id FROM capstan_sources WHERE name = $1", [.text(name)])
        guard let id = try existing.first?.int64(at: 0) else {
            throw CapstanError(.internal, "source '\(name)' was neither registered nor found in capstan_sources")
        }
        return Int32(id)
    }
}
