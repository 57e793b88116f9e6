import CapstanPostgres

/// Where drift runs are stored in PostgreSQL, as versioned migrations with their own ledger
/// (`capstan_drift_migrations`), so their versions never meet `OfflineSchema`'s.
///
/// - `capstan_drift_runs`: one row per run (`run_id` is the primary key, which is what makes a
///   second write of the same run add nothing): the policy, the windows, the dataset decision,
///   the count of violated quality checks, whether performance degraded (NULL when the policy
///   has no `performance`) and `result`, the whole `DriftRunResult` as JSON, from which a report
///   can be rendered again (`DriftResultStore.run(id:)`).
/// - `capstan_drift_results`: one row per run, feature and scope, where the scope is the whole
///   current window (`chunk` and `segment_field` NULL), one chunk (`chunk`, `chunk_from`,
///   `chunk_to`) or one segment value (`segment_field`, `segment_value`). `ordinal` keeps the
///   run's order (features in the policy's order, then chunks, then segments). Namespace,
///   policy and start time are repeated from the run so the history of one feature is one index
///   range (`capstan_drift_results_history`).
/// - `capstan_drift_quality`: one row per data-quality finding. The columns `check_name` and
///   `limit_value` are named so because `check` and `limit` are reserved words in SQL.
/// - `capstan_drift_performance` (migration 2): one row per realized-performance metric of a
///   run (`metric`, `reference`, `current`, NULL where not computable, `higher_is_better`) and
///   the labelled predictions it was computed on; namespace, policy and start time repeated for
///   a metric's history (`capstan_drift_performance_history`).
///
/// Deleting a run deletes its rows (`ON DELETE CASCADE`), which is how retention can prune.
///
/// Migration 2 (`DriftSchema.profiles`, DriftProfileStore.swift): `capstan_drift_profiles`, the
/// stored column profiles of view chunks and training sets.
public enum DriftSchema {
    /// The ledger table `DriftSchema.migrator` records applied migrations in.
    public static let migrationTable = "capstan_drift_migrations"

    public static let migrations: [PostgresMigration] = [runsResultsAndQuality, performance, profiles]

    /// A migrator for `migrations` with its own ledger.
    public static var migrator: PostgresMigrator {
        PostgresMigrator(schemaTable: migrationTable, migrations: migrations)
    }

    /// Migration 1: runs, per-feature results and quality findings.
    static let runsResultsAndQuality = PostgresMigration(
        version: 1, name: "drift runs, results and quality findings",
        sql: """
            CREATE TABLE capstan_drift_runs (
                run_id text PRIMARY KEY,
                namespace text NOT NULL,
                policy text NOT NULL,
                generation bigint,
                started_at timestamptz NOT NULL,
                finished_at timestamptz NOT NULL,
                reference_from timestamptz NOT NULL,
                reference_to timestamptz NOT NULL,
                current_from timestamptz NOT NULL,
                current_to timestamptz NOT NULL,
                reference_rows bigint NOT NULL,
                current_rows bigint NOT NULL,
                total_features integer NOT NULL,
                drifted_features integer NOT NULL,
                dataset_drift boolean NOT NULL,
                quality_problems integer NOT NULL,
                performance_degraded boolean,
                result jsonb NOT NULL,
                stored_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX capstan_drift_runs_policy ON capstan_drift_runs (namespace, policy, started_at DESC, run_id DESC);
            CREATE TABLE capstan_drift_results (
                run_id text NOT NULL REFERENCES capstan_drift_runs (run_id) ON DELETE CASCADE,
                ordinal integer NOT NULL,
                namespace text NOT NULL,
                policy text NOT NULL,
                started_at timestamptz NOT NULL,
                feature text NOT NULL,
                kind text NOT NULL,
                chunk integer,
                chunk_from timestamptz,
                chunk_to timestamptz,
                segment_field text,
                segment_value text,
                method text,
                score double precision,
                p_value double precision,
                statistic double precision,
                threshold double precision,
                lower double precision,
                upper double precision,
                decision text NOT NULL,
                reason text,
                reference_count bigint NOT NULL,
                current_count bigint NOT NULL,
                PRIMARY KEY (run_id, ordinal),
                CHECK (chunk IS NULL OR segment_field IS NULL),
                CHECK ((chunk IS NULL) = (chunk_from IS NULL) AND (chunk IS NULL) = (chunk_to IS NULL)),
                CHECK ((segment_field IS NULL) = (segment_value IS NULL))
            );
            CREATE INDEX capstan_drift_results_history ON capstan_drift_results (namespace, policy, feature, started_at DESC);
            CREATE TABLE capstan_drift_quality (
                run_id text NOT NULL REFERENCES capstan_drift_runs (run_id) ON DELETE CASCADE,
                ordinal integer NOT NULL,
                check_name text NOT NULL,
                feature text,
                value double precision NOT NULL,
                limit_value double precision,
                violated boolean NOT NULL,
                message text NOT NULL,
                PRIMARY KEY (run_id, ordinal)
            );
            """)

    /// Migration 2: realized performance per metric.
    static let performance = PostgresMigration(
        version: 2, name: "drift performance metrics",
        sql: """
            CREATE TABLE capstan_drift_performance (
                run_id text NOT NULL REFERENCES capstan_drift_runs (run_id) ON DELETE CASCADE,
                ordinal integer NOT NULL,
                namespace text NOT NULL,
                policy text NOT NULL,
                started_at timestamptz NOT NULL,
                metric text NOT NULL,
                reference double precision,
                current double precision,
                higher_is_better boolean NOT NULL,
                labelled_rows bigint NOT NULL,
                PRIMARY KEY (run_id, ordinal)
            );
            CREATE INDEX capstan_drift_performance_history ON capstan_drift_performance (namespace, policy, metric, started_at DESC);
            """)
}
