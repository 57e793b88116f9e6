import CapstanPostgres

extension OfflineSchema {
    /// Migration 6: the prediction log, consumed from the gateway's `predictions` topic.
    ///
    /// - `capstan_predictions`: one row per served prediction (Kafka record), written with the
    ///   consumer's `capstan_consumer_offsets` row in one transaction, so a replay adds nothing.
    ///   `features` follow the ModelDeployment's `spec.features` order (NaN where a value was
    ///   missing, `missing` names those features); `output` is the model's output vector (one
    ///   probability for a binary classifier, one value for a regressor, one per class else).
    ///   `(model, request_id)` finds the prediction a late label belongs to; `(model, entity, ts)`
    ///   the one for a label keyed by entity and time.
    /// - `capstan_prediction_rejects`: records that could not be read, with the reason and the
    ///   record's bytes, in the same transaction as the offsets that skip them.
    static let predictionLog = PostgresMigration(
        version: 6, name: "prediction log",
        sql: """
            CREATE TABLE capstan_predictions (
                model text NOT NULL,
                version text NOT NULL,
                request_id text NOT NULL,
                entity text NOT NULL,
                ts timestamptz NOT NULL,
                features double precision[] NOT NULL,
                output double precision[] NOT NULL,
                missing text[] NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                created_ts timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX capstan_predictions_ts ON capstan_predictions USING brin (ts);
            CREATE INDEX capstan_predictions_request ON capstan_predictions (model, request_id);
            CREATE INDEX capstan_predictions_entity ON capstan_predictions (model, entity, ts);
            CREATE TABLE capstan_prediction_rejects (
                topic text NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                reason text NOT NULL,
                record bytea NOT NULL,
                received_ts timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (topic, source_partition, source_offset)
            );
            """)
}
