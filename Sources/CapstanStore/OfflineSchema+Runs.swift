import CapstanPostgres

extension OfflineSchema {
    /// Migration 3: the run ledger (backfills, uploads), backfill checkpoints, and lineage edges.
    ///
    /// - `capstan_runs`: one row per run with its kind (`backfill`, `upload`), view, definition
    ///   version, parameters, status (`running`, `succeeded`, `failed`), progress and row counts.
    ///   `run_key` identifies a run's inputs, so starting the same backfill again finds it.
    /// - `capstan_backfill_checkpoints`: per run and source partition, the next raw-log offset to
    ///   process and the counts so far; written in the same transaction as the chunk's rows.
    /// - `capstan_lineage_edges`: per definition version and feature, what it reads: event
    ///   fields, the event time, other features (`view.feature`) and the view's sources.
    static let runsAndLineage = PostgresMigration(
        version: 3, name: "runs, backfill checkpoints and lineage edges",
        sql: """
            CREATE TABLE capstan_runs (
                id bigserial PRIMARY KEY,
                kind text NOT NULL,
                view text NOT NULL,
                definition_version integer,
                run_key text,
                params jsonb NOT NULL DEFAULT '{}',
                status text NOT NULL,
                events_total bigint NOT NULL DEFAULT 0,
                events_done bigint NOT NULL DEFAULT 0,
                rows_written bigint NOT NULL DEFAULT 0,
                rows_rejected bigint NOT NULL DEFAULT 0,
                online_updated bigint NOT NULL DEFAULT 0,
                error text,
                started_ts timestamptz NOT NULL DEFAULT now(),
                updated_ts timestamptz NOT NULL DEFAULT now(),
                finished_ts timestamptz
            );
            CREATE INDEX capstan_runs_view ON capstan_runs (view, started_ts);
            CREATE INDEX capstan_runs_key ON capstan_runs (run_key);
            CREATE TABLE capstan_backfill_checkpoints (
                run_id bigint NOT NULL REFERENCES capstan_runs (id) ON DELETE CASCADE,
                source text NOT NULL,
                partition integer NOT NULL,
                next_offset bigint NOT NULL,
                events_done bigint NOT NULL,
                rows_written bigint NOT NULL,
                online_updated bigint NOT NULL,
                done boolean NOT NULL DEFAULT false,
                updated_ts timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (run_id, source, partition)
            );
            CREATE TABLE capstan_lineage_edges (
                view text NOT NULL,
                version integer NOT NULL,
                feature text NOT NULL,
                input_kind text NOT NULL,
                input text NOT NULL,
                role text NOT NULL,
                PRIMARY KEY (view, version, feature, input_kind, input, role)
            );
            CREATE INDEX capstan_lineage_edges_input ON capstan_lineage_edges (input_kind, input);
            """)
}
