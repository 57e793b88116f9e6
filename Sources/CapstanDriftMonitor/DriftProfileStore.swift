import CapstanCore
import CapstanDrift
import CapstanPostgres
import Foundation
import Logging

extension DriftSchema {
    /// Migration 2: `capstan_drift_profiles`, one row per profiled column and chunk.
    ///
    /// `scope` is `view` (a chunk of a FeatureView's offline rows, `name` = the view) or
    /// `training_set` (the rows of a built training set, `name` = its name, `model_version` the
    /// model version trained on it, '' when not known). `chunk_from`/`chunk_to` are the event-time
    /// range the rows came from (for a training set, its first and last label time);
    /// `row_count` counts the rows including missing values; `profile` is
    /// `ColumnProfile.serialized()`.
    static let profiles = PostgresMigration(
        version: 3, name: "drift column profiles",
        sql: """
            CREATE TABLE capstan_drift_profiles (
                scope text NOT NULL CHECK (scope IN ('view', 'training_set')),
                name text NOT NULL,
                model_version text NOT NULL DEFAULT '',
                view text NOT NULL,
                feature text NOT NULL,
                chunk_from timestamptz NOT NULL,
                chunk_to timestamptz NOT NULL,
                row_count bigint NOT NULL,
                profile bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (scope, name, model_version, view, feature, chunk_from, chunk_to),
                CHECK (chunk_from <= chunk_to)
            );
            """)
}

/// One stored profile: a column over a chunk of rows.
public struct StoredColumnProfile: Sendable {
    public var view: String
    public var feature: String
    /// Epoch milliseconds, `from` inclusive, `to` exclusive (a training set: its label times).
    public var fromMillis: Int64
    public var toMillis: Int64
    public var rows: Int
    public var profile: ColumnProfile

    public init(view: String, feature: String, fromMillis: Int64, toMillis: Int64, profile: ColumnProfile) {
        self.view = view
        self.feature = feature
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.rows = profile.rows
        self.profile = profile
    }
}

/// Reads and writes `capstan_drift_profiles` (layout: ``DriftSchema``).
public final class DriftProfileStore: Sendable {
    public enum Scope: String, Sendable {
        case view
        case trainingSet = "training_set"
    }

    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies `DriftSchema.migrations` (the same ledger as ``DriftResultStore/migrate()``).
    public func migrate() async throws {
        let logger = logger
        _ = try await pool.withConnection { connection in try await DriftSchema.migrator.migrate(connection, logger: logger) }
    }

    /// Stores `profiles` under (`scope`, `name`, `modelVersion`) in one transaction; a profile of
    /// the same column and chunk is replaced (the newer read of the rows wins). A training set's
    /// earlier profiles under the same name and model version are deleted first: a rebuilt set
    /// replaces the old one whole.
    public func write(_ profiles: [StoredColumnProfile], scope: Scope, name: String, modelVersion: String = "") async throws {
        guard !profiles.isEmpty else { return }
        let rows: [[PostgresBind]] = profiles.map { p in
            [
                .text(scope.rawValue), .text(name), .text(modelVersion), .text(p.view), .text(p.feature),
                .timestamp(epochMillis: p.fromMillis), .timestamp(epochMillis: p.toMillis), .int64(Int64(p.rows)),
                .bytes(p.profile.serialized()),
            ]
        }
        try await pool.withConnection { connection in
            try await connection.transaction { c in
                if scope == .trainingSet {
                    _ = try c.query(
                        "DELETE FROM capstan_drift_profiles WHERE scope = 'training_set' AND name = $1 AND model_version = $2",
                        [.text(name), .text(modelVersion)])
                }
                for row in rows {
                    _ = try c.query(
                        """
                        INSERT INTO capstan_drift_profiles (scope, name, model_version, view, feature, chunk_from, chunk_to, row_count, profile)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                        ON CONFLICT (scope, name, model_version, view, feature, chunk_from, chunk_to)
                        DO UPDATE SET row_count = EXCLUDED.row_count, profile = EXCLUDED.profile, created_at = now()
                        """, row)
                }
            }
        }
    }

    /// The (feature, from, to) of the view chunks stored inside [fromMillis, toMillis), without
    /// their profiles.
    public func viewChunkKeys(view: String, features: [String], fromMillis: Int64, toMillis: Int64) async throws -> Set<ChunkKey> {
        try await pool.withConnection { connection in
            try await connection.transaction { c in
                let rows = try c.query(
                    """
                    SELECT feature, \(Self.millis("chunk_from")) AS from_ms, \(Self.millis("chunk_to")) AS to_ms FROM capstan_drift_profiles
                    WHERE scope = 'view' AND name = $1 AND view = $1 AND feature = ANY($2::text[])
                      AND chunk_from >= $3 AND chunk_to <= $4
                    """, [.text(view), .text(DriftResultStore.textArray(features)), .timestamp(epochMillis: fromMillis), .timestamp(epochMillis: toMillis)])
                return Set(try rows.map { row in
                    ChunkKey(feature: try Self.text(row, "feature"), fromMillis: try Self.int64(row, "from_ms"), toMillis: try Self.int64(row, "to_ms"))
                })
            }
        }
    }

    public struct ChunkKey: Sendable, Hashable {
        public var feature: String
        public var fromMillis: Int64
        public var toMillis: Int64
    }

    /// The stored view chunks of `features` inside [fromMillis, toMillis).
    public func load(view: String, features: [String], fromMillis: Int64, toMillis: Int64) async throws -> [StoredColumnProfile] {
        try await read(
            "scope = 'view' AND name = $1 AND view = $1 AND feature = ANY($2::text[]) AND chunk_from >= $3 AND chunk_to <= $4",
            [.text(view), .text(DriftResultStore.textArray(features)), .timestamp(epochMillis: fromMillis), .timestamp(epochMillis: toMillis)])
    }

    /// The profiles of training set `name` for `view` (model version `modelVersion`, or when nil
    /// the most recently stored one); empty when there are none.
    public func trainingSet(name: String, view: String, modelVersion: String? = nil) async throws -> [StoredColumnProfile] {
        if let modelVersion {
            return try await read(
                "scope = 'training_set' AND name = $1 AND view = $2 AND model_version = $3", [.text(name), .text(view), .text(modelVersion)])
        }
        return try await read(
            """
            scope = 'training_set' AND name = $1 AND view = $2 AND model_version = (
                SELECT model_version FROM capstan_drift_profiles WHERE scope = 'training_set' AND name = $1 AND view = $2
                ORDER BY created_at DESC LIMIT 1)
            """, [.text(name), .text(view)])
    }

    private func read(_ condition: String, _ binds: [PostgresBind]) async throws -> [StoredColumnProfile] {
        let rows = try await pool.withConnection { connection in
            try await connection.transaction { c in
                try c.query(
                    """
                    SELECT view, feature, \(Self.millis("chunk_from")) AS from_ms, \(Self.millis("chunk_to")) AS to_ms, row_count, profile
                    FROM capstan_drift_profiles WHERE \(condition) ORDER BY feature, chunk_from
                    """, binds)
            }
        }
        return try rows.map { row in
            let bytes = try Self.required(row.bytes("profile"), "profile")
            let profile: ColumnProfile
            do {
                profile = try ColumnProfile(serialized: bytes)
            } catch {
                throw CapstanError(.protocolError, "a stored profile of \(try Self.text(row, "feature")) does not decode: \(error)")
            }
            var stored = StoredColumnProfile(
                view: try Self.text(row, "view"), feature: try Self.text(row, "feature"), fromMillis: try Self.int64(row, "from_ms"),
                toMillis: try Self.int64(row, "to_ms"), profile: profile)
            stored.rows = Int(try Self.int64(row, "row_count"))
            return stored
        }
    }

    private static func millis(_ column: String) -> String { "round(extract(epoch FROM \(column)) * 1000)::bigint" }
    private static func text(_ row: PostgresRow, _ column: String) throws -> String { try required(row.string(column), column) }
    private static func int64(_ row: PostgresRow, _ column: String) throws -> Int64 { try required(row.int64(column), column) }
    private static func required<T>(_ value: T?, _ column: String) throws -> T {
        guard let value else { throw CapstanError(.protocolError, "capstan_drift_profiles.\(column) is NULL") }
        return value
    }
}
