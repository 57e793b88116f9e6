import CapstanCore
import CapstanKafka
import CapstanPostgres
import CapstanTelemetry
import Logging
import ServiceLifecycle
import Synchronization

/// Reads the gateway's `predictions` topic into `capstan_predictions`, exactly once per
/// consumer group (`capstan-drift predictions`, one Deployment per watched ModelDeployment, or in
/// process as a `Service`).
///
/// Guarantees:
/// - A batch's rows, its rejects and the group's next offsets commit in one PostgreSQL
///   transaction (`ConsumerOffsets`). On every assignment the consumer seeks to the offsets
///   stored there, so a crash, a kill or a rebalance never loses or duplicates a row; records
///   below the stored offsets are dropped inside the transaction, so even two members that both
///   believe they own a partition store each record once.
/// - A record that is not a prediction (not JSON, a missing or mistyped field, a non-finite
///   `ts`) is stored in `capstan_prediction_rejects` with the reason, in the same transaction,
///   and counted; it never stops the consumer.
/// - Kafka offsets are committed after the batch is durable, for lag monitoring and tools only.
///
/// librdkafka runs on the consumer's thread and libpq on each connection's thread (both
/// actors on dedicated executors), never on the cooperative pool.
public final class PredictionLogConsumer: Service, Sendable {
    public let configuration: PredictionLogConfiguration
    public let metrics: PredictionLogMetrics
    public let readiness: Readiness
    let logger: Logger
    private let stopFlag = Mutex(false)

    public init(configuration: PredictionLogConfiguration, metrics: PredictionLogMetrics = PredictionLogMetrics(), readiness: Readiness = Readiness(),
                logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.readiness = readiness
        var logger = logger
        logger[metadataKey: "kafka.topic"] = "\(configuration.topic)"
        if let model = configuration.model { logger[metadataKey: "prediction.model"] = "\(model)" }
        self.logger = logger
        readiness.block("prediction-log", reason: "starting")
    }

    /// Asks the consumer to finish: it writes the batch in hand, commits and leaves the group.
    /// (Cancelling `run` instead stops at once, like a kill: the batch in hand is not written
    /// and is read again by the next owner.)
    public func requestStop() { stopFlag.withLock { $0 = true } }

    var stopRequested: Bool { stopFlag.withLock { $0 } }

    public func run() async throws {
        let pool = PostgresPool(config: try PostgresConfig(url: configuration.postgresURL), size: configuration.postgresPoolSize, logger: logger)
        do {
            try await run(store: PredictionLogStore(pool: pool, group: configuration.groupID, logger: logger))
        } catch {
            readiness.block("prediction-log", reason: "stopped: \(error)")
            await pool.close()
            throw error
        }
        readiness.block("prediction-log", reason: "stopped")
        await pool.close()
    }

    private func run(store: PredictionLogStore) async throws {
        readiness.block("prediction-log", reason: "applying the offline schema")
        try await retrying("apply the offline schema") { try await store.migrate() }
        var consumerConfig = configuration.kafka
        consumerConfig.properties.merge(configuration.consumerProperties) { explicit, _ in explicit }
        let consumer = try KafkaConsumer(config: consumerConfig, groupID: configuration.groupID, topics: [configuration.topic], logger: logger)
        readiness.unblock("prediction-log")
        do {
            try await withGracefulShutdownHandler {
                try await loop(consumer: consumer, store: store)
            } onGracefulShutdown: {
                self.requestStop()
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    private func loop(consumer: KafkaConsumer, store: PredictionLogStore) async throws {
        let topic = configuration.topic
        var batch = PredictionBatch(topic: topic)
        var batchStarted = ContinuousClock.now
        let size = max(1, configuration.batchSize)
        while !stopRequested {
            try Task.checkCancellation()
            let result = try await consumer.poll(maxMessages: size - batch.records, timeout: .milliseconds(100), fill: .milliseconds(20))
            for event in result.rebalance {
                switch event {
                case .revoked(let partitions):
                    // What was read from these partitions becomes durable before the next owner
                    // starts at the stored offsets.
                    try await write(&batch, store: store, consumer: consumer)
                    try await consumer.completeRevocation()
                    logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions.map(\.partition))"])
                case .assigned(let partitions):
                    let stored = try await retrying("read the stored offsets") { try await store.committedOffsets(topic: topic) }
                    try await consumer.completeAssignment(Dictionary(uniqueKeysWithValues: partitions.map { ($0, stored[$0.partition]) }))
                    logger.info("partitions assigned", metadata: [
                        "kafka.partitions": "\(partitions.map(\.partition))",
                        "kafka.start_offsets": "\(partitions.map { stored[$0.partition].map(String.init) ?? "group default" })",
                    ])
                }
            }
            if batch.isEmpty { batchStarted = ContinuousClock.now }
            for message in result.messages {
                batch.add(value: message.value, partition: message.partition, offset: message.offset, model: configuration.model)
            }
            if batch.records >= size || (!batch.isEmpty && ContinuousClock.now - batchStarted >= configuration.maxBatchDelay) {
                try await write(&batch, store: store, consumer: consumer)
            }
        }
        try await write(&batch, store: store, consumer: consumer)
    }

    /// Commits the batch (retrying transient PostgreSQL failures), then Kafka's offsets; empties it.
    private func write(_ batch: inout PredictionBatch, store: PredictionLogStore, consumer: KafkaConsumer) async throws {
        guard !batch.isEmpty else { return }
        let pending = batch
        let start = ContinuousClock.now
        let committed = try await retrying("write a batch of predictions to PostgreSQL") { try await store.commit(pending) }
        metrics.commitLatency.recordNanoseconds(Int64((ContinuousClock.now - start).inSeconds * 1e9))
        metrics.recordCommit(rows: committed.rows, rejects: committed.rejects, skipped: pending.skipped)
        for reject in committed.rejects.prefix(3) {
            logger.info("rejected a prediction record", metadata: [
                "kafka.partition": "\(reject.partition)", "kafka.offset": "\(reject.offset)", "prediction.reject_reason": "\(reject.reason)",
            ])
        }
        if committed.alreadyStored > 0 {
            logger.info("skipped records already stored", metadata: ["prediction.already_stored": "\(committed.alreadyStored)"])
        }
        batch = PredictionBatch(topic: pending.topic)
        let offsets = Dictionary(uniqueKeysWithValues: pending.nextOffsets.map { (TopicPartition(topic: pending.topic, partition: $0.key), $0.value) })
        do {
            try await consumer.commit(offsets)
        } catch {
            logger.debug("Kafka offset commit failed; offsets are safe in PostgreSQL", metadata: ["error": "\(error)"])
        }
        metrics.updateLag(consumer.lag())
    }

    /// Retries transient PostgreSQL failures with backoff until they succeed, a stop is
    /// requested, or the task is cancelled.
    func retrying<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        while true {
            do {
                let value = try await body()
                readiness.unblock("postgres")
                return value
            } catch let error as CapstanError where [.connection, .unavailable, .timeout, .closed].contains(error.code) && !stopRequested {
                metrics.writeRetries.increment()
                readiness.block("postgres", reason: "cannot \(what): \(error.message)")
                let delay = backoff.next()
                logger.warning("retrying after a PostgreSQL error", metadata: ["error": "\(error)", "retry.delay": "\(delay)", "operation": "\(what)"])
                try await Task.sleep(for: delay)
            }
        }
    }
}
