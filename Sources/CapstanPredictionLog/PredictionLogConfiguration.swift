import CapstanKafka

/// Everything the prediction log consumer needs, from flags, the operator's Deployment, or the
/// embedded mode.
public struct PredictionLogConfiguration: Sendable {
    public var kafka: KafkaConfig
    public var postgresURL: String
    /// The gateway's prediction topic.
    public var topic: String = "predictions"
    /// Consumer group; the offsets in `capstan_consumer_offsets` are kept per group, so each
    /// group stores each record once.
    public var groupID: String = "capstan-prediction-log"
    /// Keep only this model's predictions (the others are read and skipped). nil: every model.
    public var model: String?
    /// Properties for the consumer. A new group starts at the earliest offset, so no prediction
    /// already in the topic is skipped.
    public var consumerProperties: [String: String] = ["auto.offset.reset": "earliest"]
    /// Records per batch: the unit that becomes durable together.
    public var batchSize: Int = 5_000
    /// The longest a record waits in a partly filled batch before the batch is written.
    public var maxBatchDelay: Duration = .seconds(1)
    public var postgresPoolSize: Int = 2

    public init(kafka: KafkaConfig, postgresURL: String) {
        self.kafka = kafka
        self.postgresURL = postgresURL
    }
}
