import CapstanAPI
import CapstanKafka

/// Everything a feature worker needs to run, from flags, environment or the embedded mode.
public struct WorkerConfiguration: Sendable {
    /// The views this worker evaluates (all views of one dependency component, usually one).
    public var views: [FeatureView]
    public var kafka: KafkaConfig
    /// Properties for the consumer only (not the dead-letter producer). A new group starts at
    /// the earliest offset, so no event already in the topic is skipped.
    public var consumerProperties: [String: String] = ["auto.offset.reset": "earliest"]
    /// Consumer group; offsets and window snapshots are kept per group.
    public var groupID: String
    public var redisURL: String
    public var postgresURL: String
    /// Messages per poll batch; a batch is the unit that becomes durable together.
    public var batchSize: Int = 10_000
    /// Concurrent parts a batch's computation is split into, by partition; each part runs on a
    /// compute thread of its own (one core), off the cooperative pool.
    public var computeShards: Int = 2
    /// How long a poll keeps filling a batch once its first message is in (fuller batches
    /// mean fewer online writes per event: each entity is written once per batch). Adds at
    /// most this much to an event's latency.
    public var pollFill: Duration = .milliseconds(20)
    /// Batches written concurrently with the next batch's computation.
    public var maxInFlightBatches: Int = 2
    /// How often each partition's window state is snapshotted with its offset.
    public var snapshotInterval: Duration = .seconds(60)
    public var redisPoolSize: Int = 4
    public var postgresPoolSize: Int = 3
    /// Create dead-letter topics at start-up (needs the admin permission on the cluster).
    public var createDeadLetterTopics: Bool = true

    public init(views: [FeatureView], kafka: KafkaConfig, groupID: String, redisURL: String, postgresURL: String) {
        self.views = views
        self.kafka = kafka
        self.groupID = groupID
        self.redisURL = redisURL
        self.postgresURL = postgresURL
    }
}
