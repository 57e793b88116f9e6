import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanKafka
import CapstanPostgres
import CapstanRedis
import CapstanStore
import CapstanTelemetry
import Logging
import ServiceLifecycle
import Synchronization

/// The streaming feature worker (`capstan-feature-worker`): consumes the views' topics, computes
/// features, and writes them online (Redis) and offline (PostgreSQL).
///
/// Guarantees:
/// - A batch's offline rows, raw events, next offsets and window snapshots commit in one
///   PostgreSQL transaction, in batch order. Offsets are read back from PostgreSQL on every
///   assignment, so a crash or rebalance never duplicates or loses offline rows.
/// - Online writes are conditional on event time (a late event never overwrites a fresher value)
///   and idempotent; they and the dead letters are durable before the batch commits.
/// - Kafka offsets are committed after the batch is durable (for lag monitoring and tools).
/// - Window state is restored on assignment from the latest snapshot plus a replay of the raw
///   event log up to the committed offset, so aggregates after a restart equal an
///   uninterrupted run.
public final class FeatureWorker: Service, Sendable {
    public let configuration: WorkerConfiguration
    public let metrics: WorkerMetrics
    public let readiness: Readiness
    let logger: Logger
    private let stopFlag = Mutex(false)
    private let activityState = Mutex("not started")

    public init(configuration: WorkerConfiguration, metrics: WorkerMetrics = WorkerMetrics(), readiness: Readiness = Readiness(), logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
        readiness.block("feature-worker", reason: "starting")
    }

    /// Asks the worker to finish: it stops polling, makes in-flight batches durable, writes
    /// window snapshots, commits, and leaves the consumer group.
    public func requestStop() { stopFlag.withLock { $0 = true } }

    var stopRequested: Bool { stopFlag.withLock { $0 } }

    /// What the worker is doing now ("polling", "revoking: draining in-flight batches", ...):
    /// for a stuck stop or rebalance, the step it is stuck in.
    public var activity: String { activityState.withLock { $0 } }

    func doing(_ step: String) { activityState.withLock { $0 = step } }

    /// Compiles the configured views into one plan per source topic.
    public static func compilePlans(_ configuration: WorkerConfiguration) throws -> [String: FeaturePlan] {
        var byTopic: [String: [FeatureView]] = [:]
        for view in configuration.views {
            guard let topic = view.spec.source.kafka?.topic else {
                throw CapstanError(.invalidSpec, "FeatureView \(view.name) has no source.kafka.topic; the streaming worker needs one")
            }
            byTopic[topic, default: []].append(view)
        }
        guard !byTopic.isEmpty else { throw CapstanError(.invalidSpec, "no FeatureViews to run") }
        var plans: [String: FeaturePlan] = [:]
        for (topic, views) in byTopic { plans[topic] = try PlanCompiler.compile(views) }
        return plans
    }

    public func run() async throws {
        let plans = try Self.compilePlans(configuration)
        let redis = RedisPool(config: try RedisConfig(url: configuration.redisURL), size: configuration.redisPoolSize, logger: logger)
        let postgres = PostgresPool(config: try PostgresConfig(url: configuration.postgresURL), size: configuration.postgresPoolSize, logger: logger)
        do {
            try await run(plans: plans, redis: redis, postgres: postgres)
        } catch {
            await redis.close()
            await postgres.close()
            throw error
        }
        await redis.close()
        await postgres.close()
    }

    private func run(plans: [String: FeaturePlan], redis: RedisPool, postgres: PostgresPool) async throws {
        readiness.block("feature-worker", reason: "connecting to PostgreSQL and Redis")
        doing("applying the offline schema and registering definitions")
        let offline = OfflineStore(pool: postgres, logger: logger)
        let online = OnlineStore(pool: redis, logger: logger)
        try await retrying("apply the offline schema") { try await offline.migrate() }
        var topicPlans: [String: TopicPlan] = [:]
        for (topic, plan) in plans {
            let versions = try await retrying("register definitions") { try await offline.register(plan) }
            let sourceID = try await retrying("register the topic's source") { try await offline.sourceID(of: FeatureSources.kafka(topic)) }
            topicPlans[topic] = TopicPlan(topic: topic, plan: plan, versions: versions, sourceID: sourceID)
            for (view, version) in zip(plan.views, versions) {
                logger.info("feature view ready", metadata: ["feature.view": "\(view.name)", "feature.definition_version": "\(version)", "kafka.topic": "\(topic)"])
            }
        }
        doing("creating the Kafka clients")
        let producer = try KafkaProducer(config: configuration.kafka, logger: logger)
        if configuration.createDeadLetterTopics {
            do {
                try await createDeadLetterTopics(topicPlans)
            } catch {
                logger.warning("could not create the dead-letter topics; make sure they exist", metadata: ["error": "\(error)"])
            }
        }
        var consumerConfig = configuration.kafka
        consumerConfig.properties.merge(configuration.consumerProperties) { explicit, _ in explicit }
        let consumer = try KafkaConsumer(config: consumerConfig, groupID: configuration.groupID, topics: Array(topicPlans.keys).sorted(), logger: logger)
        readiness.unblock("feature-worker")
        var session = WorkerSession(
            worker: self, plans: topicPlans, consumer: consumer, producer: producer, online: online, offline: offline)
        do {
            try await withGracefulShutdownHandler {
                try await session.loop()
            } onGracefulShutdown: {
                self.requestStop()
            }
            try await session.finish()
        } catch {
            doing("stopped by an error: \(error)")
            readiness.block("feature-worker", reason: "stopped: \(error)")
            await session.abandon()
            throw error
        }
        doing("stopping: closing the Kafka consumer")
        await consumer.close()
        doing("stopping: flushing and closing the dead-letter producer")
        try? await producer.flush(timeout: .seconds(10))
        await producer.close()
        doing("stopped")
        readiness.block("feature-worker", reason: "stopped")
    }

    private func createDeadLetterTopics(_ plans: [String: TopicPlan]) async throws {
        let admin = try KafkaAdmin(config: configuration.kafka, logger: logger)
        for (topic, plan) in plans {
            let partitions = (try? await admin.partitionCount(topic)) ?? 1
            let dlqs = Set(plan.plan.views.compactMap(\.deadLetterTopic))
            do {
                try await admin.createTopics(dlqs.sorted().map { NewTopic(name: $0, partitions: Int32(max(partitions, 1)), replicationFactor: -1) }, timeout: .seconds(10))
            } catch {
                await admin.close()
                throw error
            }
        }
        await admin.close()
    }

    /// Retries transient store failures with backoff until they succeed or a stop is requested.
    func retrying<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        while true {
            do {
                let value = try await body()
                readiness.unblock("stores")
                return value
            } catch let error as CapstanError where Self.isTransient(error) && !stopRequested {
                metrics.writeRetries.increment()
                readiness.block("stores", reason: "cannot \(what): \(error.message)")
                let delay = backoff.next()
                logger.warning("retrying after a store error", metadata: ["error": "\(error)", "retry.delay": "\(delay)", "operation": "\(what)"])
                try await Task.sleep(for: delay)
            }
        }
    }

    static func isTransient(_ error: CapstanError) -> Bool {
        [.connection, .unavailable, .timeout, .closed].contains(error.code)
    }
}
