import CapstanPostgres

/// The run ledger in PostgreSQL, as versioned migrations with their own ledger table
/// (`capstan_batch_migrations`).
///
/// - `capstan_batch_runs`: one row per run. `UNIQUE (namespace, job, logical_time)` is what makes
///   a run exactly once per interval: a scheduler claims an interval by inserting its row, and a
///   second insert of the same logical time (a CronJob firing twice, two operator replicas, a
///   retried scheduler) inserts nothing. `spec` and `parameters` are the job as it was when the
///   run started, so a resume runs the same definition. `owner` and `lease_until` say which
///   runner drives the run; a runner renews its lease while it works, another may take the run
///   over once the lease has lapsed (or at once when the owner's process is gone on this host).
///   `cancel_reason` is set by `capstan batch cancel`; the driving runner stops and records it.
/// - `capstan_batch_steps`: one row per step and fan-out item (`item` -1 for a step without
///   `forEach`): state (`pending`, `running`, `succeeded`, `failed`, `cached`, `cancelled`),
///   attempts, the cache key, outputs, how the last attempt failed, and the process (host, pid)
///   of a running process step so a runner taking over can stop an orphan before rerunning it.
/// - `capstan_batch_attempts`: every attempt of every step, with its outcome (the retry history).
/// - `capstan_batch_cache`: outputs of successful executions by cache key (the hash of the
///   step's rendered definition and inputs), per job.
public enum BatchSchema {
    public static let migrationTable = "capstan_batch_migrations"

    public static let migrations: [PostgresMigration] = [ledger]

    public static var migrator: PostgresMigrator {
        PostgresMigrator(schemaTable: migrationTable, migrations: migrations)
    }

    static let ledger = PostgresMigration(
        version: 1, name: "batch runs, steps, attempts and the step cache",
        sql: """
            CREATE TABLE capstan_batch_runs (
                run_id text PRIMARY KEY,
                namespace text NOT NULL,
                job text NOT NULL,
                logical_time timestamptz NOT NULL,
                interval_start timestamptz NOT NULL,
                interval_end timestamptz NOT NULL,
                trigger text NOT NULL,
                parameters jsonb NOT NULL,
                spec jsonb NOT NULL,
                generation bigint,
                phase text NOT NULL,
                message text,
                created_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                owner text,
                lease_until timestamptz,
                cancel_reason text,
                UNIQUE (namespace, job, logical_time)
            );
            CREATE INDEX capstan_batch_runs_by_job ON capstan_batch_runs (namespace, job, created_at DESC);
            CREATE TABLE capstan_batch_steps (
                run_id text NOT NULL REFERENCES capstan_batch_runs ON DELETE CASCADE,
                step text NOT NULL,
                item integer NOT NULL,
                item_value text,
                state text NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                cache_key text,
                outputs jsonb,
                failure_kind text,
                exit_code integer,
                message text,
                cached_from text,
                host text,
                pid integer,
                started_at timestamptz,
                finished_at timestamptz,
                PRIMARY KEY (run_id, step, item)
            );
            CREATE TABLE capstan_batch_attempts (
                run_id text NOT NULL REFERENCES capstan_batch_runs ON DELETE CASCADE,
                step text NOT NULL,
                item integer NOT NULL,
                attempt integer NOT NULL,
                started_at timestamptz NOT NULL,
                finished_at timestamptz,
                outcome text,
                failure_kind text,
                exit_code integer,
                message text,
                PRIMARY KEY (run_id, step, item, attempt)
            );
            CREATE TABLE capstan_batch_cache (
                namespace text NOT NULL,
                job text NOT NULL,
                cache_key text NOT NULL,
                outputs jsonb NOT NULL,
                run_id text NOT NULL,
                step text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (namespace, job, cache_key)
            );
            """)
}
