import CapstanCore
import Logging

/// One schema change. Once applied, its SQL must never change: add a new migration instead.
public struct PostgresMigration: Sendable, Hashable {
    /// Positive, unique, and increasing along the list.
    public var version: Int
    public var name: String
    /// One or more statements. They run inside a transaction, so statements that refuse to
    /// (`CREATE INDEX CONCURRENTLY`, `VACUUM`) cannot be used.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies `PostgresMigration`s in order and records them in a ledger table.
///
/// - Each migration runs in its own transaction together with its ledger row, so it is applied
///   completely or not at all.
/// - Migrators in several processes are serialized with a transaction-scoped advisory lock
///   (`pg_advisory_xact_lock`) keyed on the ledger table; a migrator that waited re-reads the
///   ledger and skips what the other one applied. (A transaction-scoped lock, unlike a session
///   lock, cannot be lost silently by a reconnect.)
/// - The ledger stores a SHA-256 checksum of each migration's SQL. A migration that was applied
///   with different SQL is refused, as is a missing migration older than an applied one.
public struct PostgresMigrator: Sendable {
    public let schemaTable: String
    public let migrations: [PostgresMigration]

    public init(schemaTable: String = "capstan_schema_migrations", migrations: [PostgresMigration]) {
        self.schemaTable = schemaTable
        self.migrations = migrations
    }

    /// Applies the pending migrations and returns their versions (empty when up to date).
    public func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        try validate()
        let table = try Self.quotedName(schemaTable)
        let lockKey = Self.lockKey(schemaTable)
        try await connection.transaction { c in
            _ = try c.query("SELECT pg_advisory_xact_lock($1)", [.int64(lockKey)])
            try c.execute("""
                CREATE TABLE IF NOT EXISTS \(table) (
                    version bigint PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try await connection.transaction { c -> Bool in
                _ = try c.query("SELECT pg_advisory_xact_lock($1)", [.int64(lockKey)])
                let checksum = try Self.checksum(migration.sql, c)
                let recorded = try c.query(
                    "SELECT checksum FROM \(table) WHERE version = $1", [.int64(Int64(migration.version))])
                if let row = recorded.first {
                    let stored = try row.string("checksum") ?? ""
                    guard stored == checksum else {
                        throw CapstanError(
                            .conflict,
                            "migration \(migration.version) (\(migration.name)) was applied with different SQL "
                                + "(checksum \(stored.prefix(12)) in \(schemaTable), \(checksum.prefix(12)) now); "
                                + "applied migrations must not change: add a new migration instead")
                    }
                    return false
                }
                let newer = try c.query(
                    "SELECT min(version) AS v FROM \(table) WHERE version > $1", [.int64(Int64(migration.version))])
                if let later = try newer.first?.int64("v") {
                    throw CapstanError(
                        .conflict,
                        "migration \(migration.version) (\(migration.name)) is not applied but the later migration "
                            + "\(later) is; new migrations must have higher versions than applied ones")
                }
                try c.execute(migration.sql)
                _ = try c.query(
                    "INSERT INTO \(table) (version, name, checksum) VALUES ($1, $2, $3)",
                    [.int64(Int64(migration.version)), .text(migration.name), .text(checksum)])
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info(
                    "applied PostgreSQL migration",
                    metadata: ["postgres.migration.version": "\(migration.version)", "postgres.migration.name": "\(migration.name)"])
            }
        }
        return applied
    }

    private func validate() throws {
        var previous = 0
        for migration in migrations {
            guard migration.version > previous else {
                throw CapstanError(
                    .invalidArgument,
                    "migration versions must be positive, unique and increasing: \(migration.version) (\(migration.name)) follows \(previous)")
            }
            previous = migration.version
        }
    }

    /// Hex SHA-256 of the SQL, computed by the server (`sha256(bytea)`).
    private static func checksum(_ sql: String, _ connection: isolated PostgresConnection) throws -> String {
        let rows = try connection.query("SELECT encode(sha256($1), 'hex') AS sum", [.bytes(Array(sql.utf8))])
        guard let sum = try rows.first?.string("sum") else {
            throw CapstanError(.protocolError, "sha256() returned no value")
        }
        return sum
    }

    /// `name` or `schema.name`, each part double-quoted; only letters, digits and `_`.
    static func quotedName(_ name: String) throws -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ part in
            !part.isEmpty && part.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        }) else {
            throw CapstanError(.invalidArgument, "schema table '\(name)' must be name or schema.name (letters, digits, _)")
        }
        return parts.map { "\"\($0)\"" }.joined(separator: ".")
    }

    /// A stable 64-bit advisory lock key for the ledger table (FNV-1a).
    static func lockKey(_ table: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "capstan.migrations:\(table)".utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int64(bitPattern: hash)
    }
}
