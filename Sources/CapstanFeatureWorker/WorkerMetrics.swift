import CapstanKafka
import Metrics
import Synchronization

/// The worker's Prometheus metrics and the per-stage time accounting the benchmark reads.
public final class WorkerMetrics: Sendable {
    let processed = Counter(label: "capstan_feature_events_total", dimensions: [("status", "processed")])
    let deadLettered = Counter(label: "capstan_feature_events_total", dimensions: [("status", "dead_lettered")])
    let deadLetterTotal = Counter(label: "capstan_feature_dead_letter_total")
    let featureRows = Counter(label: "capstan_feature_offline_rows_total")
    let onlineWrites = Counter(label: "capstan_feature_online_writes_total")
    let batchLatency = Timer(label: "capstan_feature_processing_duration_seconds")
    let redisLatency = Timer(label: "capstan_feature_store_write_duration_seconds", dimensions: [("store", "redis")])
    let postgresLatency = Timer(label: "capstan_feature_store_write_duration_seconds", dimensions: [("store", "postgres")])
    let writeRetries = Counter(label: "capstan_feature_store_write_retries_total")
    private let lagGauges = Mutex<[TopicPartition: Gauge]>([:])
    private let stages = Mutex<StageTimes>(StageTimes())

    public init() {}

    /// Cumulative wall time per pipeline stage, in seconds.
    public struct StageTimes: Sendable {
        public var poll: Double = 0
        public var compute: Double = 0
        public var redis: Double = 0
        public var postgres: Double = 0
        public var deadLetter: Double = 0
        public var restore: Double = 0
        public var events: Int = 0
        public var deadLettered: Int = 0
        public var featureRows: Int = 0
        public var batches: Int = 0
        /// When the first poll that returned messages came back (after the group join).
        public var firstMessagesAt: ContinuousClock.Instant?
        /// When the last batch became durable.
        public var lastDurableAt: ContinuousClock.Instant?
    }

    public var stageTimes: StageTimes { stages.withLock { $0 } }

    func record(_ update: (inout StageTimes) -> Void) { stages.withLock { update(&$0) } }

    func updateLag(_ lag: [TopicPartition: Int64]) {
        lagGauges.withLock { gauges in
            for (tp, value) in lag {
                let gauge = gauges[tp] ?? Gauge(label: "capstan_feature_consumer_lag", dimensions: [("topic", tp.topic), ("partition", String(tp.partition))])
                gauges[tp] = gauge
                gauge.record(Double(value))
            }
        }
    }
}
