import CapstanPostgres

/// The offline store layout in PostgreSQL, as versioned migrations.
///
/// - `capstan_feature_definitions`: every FeatureView definition version (hash, spec, the order
///   of its numeric and text features).
/// - `capstan_feature_rows`: append-only, one row per (view, entity, event) with the feature
///   values as two arrays in definition order (`num` for numbers and booleans, `txt` for text).
///   Wide rows keep bulk writes fast (one row per view and event instead of one per feature).
///   Since migration 5 a row names its source by `source_id` (`capstan_sources`), not by text.
/// - `feature_values`: a view with the long layout (view, entity, feature, value, text_value,
///   event_ts, created_ts, definition_version), for people and SQL tools.
/// - `capstan_raw_segments`: the raw event log, one row per source partition and batch holding
///   that batch's events (see `RawSegmentBuilder`), for restarts and backfills.
/// - `capstan_consumer_offsets`: the next offset per consumer group and partition, committed in
///   the same transaction as the rows, which is what makes replays duplicate-free.
/// - `capstan_window_snapshots`: periodic window state per partition, same transaction.
///
/// Migration 2 (batch uploads, see docs/ingest.md):
/// - `capstan_uploads`: one row per committed upload (id, view, SHA-256 of the decompressed
///   content, counts, event-time range); `(view, content_sha256)` is unique, which is what makes
///   re-uploads add nothing.
/// - `capstan_upload_rejects`: every rejected record with its line number and reason.
/// - `capstan_upload_segments`: the uploaded records as received (CSV records without the header,
///   which `capstan_uploads.header` holds, or JSONL lines), one row per batch, for backfills.
///
/// Migration 6 (the prediction log, see `predictionLog`): `capstan_predictions`,
/// `capstan_prediction_rejects`.
///
/// TimescaleDB is not packaged by Debian; tables are plain, with BRIN indexes on time.
public enum OfflineSchema {
    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "feature store offline layout",
            sql: """
                CREATE TABLE capstan_feature_definitions (
                    view text NOT NULL,
                    version integer NOT NULL,
                    hash text NOT NULL,
                    spec jsonb NOT NULL,
                    numeric_features text[] NOT NULL,
                    string_features text[] NOT NULL,
                    created_ts timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (view, version),
                    UNIQUE (view, hash)
                );
                CREATE TABLE capstan_feature_rows (
                    view text NOT NULL,
                    entity text NOT NULL,
                    event_ts timestamptz NOT NULL,
                    created_ts timestamptz NOT NULL,
                    definition_version integer NOT NULL,
                    source text NOT NULL,
                    source_partition integer NOT NULL,
                    source_offset bigint NOT NULL,
                    num double precision[],
                    txt text[]
                );
                CREATE INDEX capstan_feature_rows_event_ts ON capstan_feature_rows USING brin (event_ts);
                CREATE TABLE capstan_raw_segments (
                    source text NOT NULL,
                    partition integer NOT NULL,
                    first_offset bigint NOT NULL,
                    last_offset bigint NOT NULL,
                    event_count integer NOT NULL,
                    received_ts timestamptz NOT NULL,
                    events bytea NOT NULL
                );
                ALTER TABLE capstan_raw_segments ALTER COLUMN events SET STORAGE EXTERNAL;
                CREATE INDEX capstan_raw_segments_position ON capstan_raw_segments (source, partition, first_offset);
                CREATE INDEX capstan_raw_segments_received ON capstan_raw_segments USING brin (received_ts);
                CREATE TABLE capstan_consumer_offsets (
                    group_id text NOT NULL,
                    topic text NOT NULL,
                    partition integer NOT NULL,
                    next_offset bigint NOT NULL,
                    updated_ts timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (group_id, topic, partition)
                );
                CREATE TABLE capstan_window_snapshots (
                    group_id text NOT NULL,
                    topic text NOT NULL,
                    partition integer NOT NULL,
                    plan_hash text NOT NULL,
                    next_offset bigint NOT NULL,
                    state bytea NOT NULL,
                    created_ts timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (group_id, topic, partition)
                );
                ALTER TABLE capstan_window_snapshots ALTER COLUMN state SET STORAGE EXTERNAL;
                CREATE VIEW feature_values AS
                SELECT r.view, r.entity, n.feature, n.value, NULL::text AS text_value,
                       r.event_ts, r.created_ts, r.definition_version
                FROM capstan_feature_rows r
                JOIN capstan_feature_definitions d ON d.view = r.view AND d.version = r.definition_version
                CROSS JOIN LATERAL unnest(d.numeric_features, r.num) AS n(feature, value)
                WHERE n.feature IS NOT NULL
                UNION ALL
                SELECT r.view, r.entity, t.feature, NULL::double precision, t.text_value,
                       r.event_ts, r.created_ts, r.definition_version
                FROM capstan_feature_rows r
                JOIN capstan_feature_definitions d ON d.view = r.view AND d.version = r.definition_version
                CROSS JOIN LATERAL unnest(d.string_features, r.txt) AS t(feature, text_value)
                WHERE t.feature IS NOT NULL;
                """),
        PostgresMigration(
            version: 2, name: "batch uploads",
            sql: """
                CREATE TABLE capstan_uploads (
                    upload_id text PRIMARY KEY,
                    view text NOT NULL,
                    content_sha256 text NOT NULL,
                    format text NOT NULL,
                    header text,
                    definition_version integer NOT NULL,
                    rows bigint NOT NULL,
                    accepted bigint NOT NULL,
                    rejected bigint NOT NULL,
                    min_event_ts timestamptz,
                    max_event_ts timestamptz,
                    bytes bigint NOT NULL,
                    started_ts timestamptz NOT NULL,
                    finished_ts timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (view, content_sha256)
                );
                CREATE TABLE capstan_upload_rejects (
                    upload_id text NOT NULL,
                    line bigint NOT NULL,
                    reason text NOT NULL,
                    record text NOT NULL
                );
                CREATE INDEX capstan_upload_rejects_upload ON capstan_upload_rejects (upload_id, line);
                CREATE TABLE capstan_upload_segments (
                    upload_id text NOT NULL,
                    view text NOT NULL,
                    first_line bigint NOT NULL,
                    last_line bigint NOT NULL,
                    record_count integer NOT NULL,
                    min_event_ts timestamptz,
                    max_event_ts timestamptz,
                    records bytea NOT NULL
                );
                ALTER TABLE capstan_upload_segments ALTER COLUMN records SET STORAGE EXTERNAL;
                CREATE INDEX capstan_upload_segments_upload ON capstan_upload_segments (upload_id, first_line);
                CREATE INDEX capstan_upload_segments_view ON capstan_upload_segments (view, min_event_ts);
                """),
        runsAndLineage,
        compressedRawLogs,
        sourceIDs,
        predictionLog,
    ]

    /// Migration 4: the raw logs (stream segments, upload segments) are stored lz4-compressed.
    ///
    /// Migrations 1 and 2 stored them uncompressed (`STORAGE EXTERNAL`) to spare PostgreSQL's
    /// slow default compressor (pglz). With lz4 the server compresses a segment of JSON or CSV
    /// records about 3x at a fraction of the cost of writing the bytes it saves, twice (table
    /// and WAL): the upload benchmark's PostgreSQL time fell with it. Rows written before the
    /// migration stay as they are and read as before. A server built without lz4 keeps the
    /// columns uncompressed.
    static let compressedRawLogs = PostgresMigration(
        version: 4, name: "lz4-compressed raw logs",
        sql: """
            DO $$
            BEGIN
                ALTER TABLE capstan_raw_segments ALTER COLUMN events SET COMPRESSION lz4;
                ALTER TABLE capstan_upload_segments ALTER COLUMN records SET COMPRESSION lz4;
                ALTER TABLE capstan_raw_segments ALTER COLUMN events SET STORAGE EXTENDED;
                ALTER TABLE capstan_upload_segments ALTER COLUMN records SET STORAGE EXTENDED;
            EXCEPTION WHEN feature_not_supported THEN
                RAISE NOTICE 'lz4 is not available in this server; raw logs stay uncompressed';
            END
            $$;
            """)

    /// Migration 5: feature rows name their source by a 4-byte id (`capstan_sources`) instead of
    /// its text (`kafka:<topic>`, `upload:<upload_id>`: up to 44 bytes of a ~230-byte row). Every
    /// feature row is written twice (table and WAL), so a narrower row is less for PostgreSQL to
    /// write; the upload benchmark's gateway rate rose about 5 % with it. Existing rows are moved
    /// to the new layout (one rewrite of the table) and their source names registered; the
    /// `feature_values` view is recreated unchanged (its text repeats migration 1's on purpose:
    /// an applied migration's SQL is frozen by its checksum, so migrations share no constants). There is no foreign key (a per-row check on
    /// every COPY); writers register a source before its rows (`FeatureSources`).
    static let sourceIDs = PostgresMigration(
        version: 5, name: "feature rows reference their source by id",
        sql: """
            CREATE TABLE capstan_sources (
                id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL UNIQUE,
                created_ts timestamptz NOT NULL DEFAULT now()
            );
            INSERT INTO capstan_sources (name) SELECT DISTINCT source FROM capstan_feature_rows ORDER BY 1;
            DROP VIEW feature_values;
            ALTER TABLE capstan_feature_rows RENAME TO capstan_feature_rows_before_v5;
            CREATE TABLE capstan_feature_rows (
                view text NOT NULL,
                entity text NOT NULL,
                event_ts timestamptz NOT NULL,
                created_ts timestamptz NOT NULL,
                definition_version integer NOT NULL,
                source_id integer NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                num double precision[],
                txt text[]
            );
            INSERT INTO capstan_feature_rows
            SELECT r.view, r.entity, r.event_ts, r.created_ts, r.definition_version, s.id, r.source_partition, r.source_offset, r.num, r.txt
            FROM capstan_feature_rows_before_v5 r JOIN capstan_sources s ON s.name = r.source;
            DROP TABLE capstan_feature_rows_before_v5;
            CREATE INDEX capstan_feature_rows_event_ts ON capstan_feature_rows USING brin (event_ts);
            CREATE VIEW feature_values AS
            SELECT r.view, r.entity, n.feature, n.value, NULL::text AS text_value,
                   r.event_ts, r.created_ts, r.definition_version
            FROM capstan_feature_rows r
            JOIN capstan_feature_definitions d ON d.view = r.view AND d.version = r.definition_version
            CROSS JOIN LATERAL unnest(d.numeric_features, r.num) AS n(feature, value)
            WHERE n.feature IS NOT NULL
            UNION ALL
            SELECT r.view, r.entity, t.feature, NULL::double precision, t.text_value,
                   r.event_ts, r.created_ts, r.definition_version
            FROM capstan_feature_rows r
            JOIN capstan_feature_definitions d ON d.view = r.view AND d.version = r.definition_version
            CROSS JOIN LATERAL unnest(d.string_features, r.txt) AS t(feature, text_value)
            WHERE t.feature IS NOT NULL;
            """)
}
