import CapstanCore
import CapstanKafka
import Foundation
import Logging

/// The embedded default: a real redis-server and a private PostgreSQL cluster as child
/// processes on free loopback ports, and librdkafka's in-process mock cluster for Kafka unless
/// `KAFKA_BROKERS` points at a real one. Used by `capstan demo`, the benchmarks and the tests.
public final class EmbeddedStack: Sendable {
    public let directory: String
    public let redis: EmbeddedRedis
    public let postgres: EmbeddedPostgres
    /// nil when a real Kafka is used.
    public let mockKafka: KafkaMockCluster?
    public let brokers: String
    private let logger: Logger

    private init(directory: String, redis: EmbeddedRedis, postgres: EmbeddedPostgres, mockKafka: KafkaMockCluster?, brokers: String, logger: Logger) {
        self.directory = directory
        self.redis = redis
        self.postgres = postgres
        self.mockKafka = mockKafka
        self.brokers = brokers
        self.logger = logger
    }

    /// Starts everything under `directory` (created if needed).
    /// - Parameter kafkaBrokers: a real cluster to use; nil starts the mock cluster.
    public static func start(directory: String, kafkaBrokers: String? = ProcessInfo.processInfo.environment["KAFKA_BROKERS"],
                             mockBrokers: Int = 1, logger: Logger) async throws -> EmbeddedStack {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Started one after the other (PostgreSQL dominates start-up anyway); the Swift 6.3
        // release optimizer rejects the equivalent `async let` pair with error clean-up.
        let startedRedis = try await EmbeddedRedis.start(directory: directory + "/redis", logger: logger)
        let startedPostgres: EmbeddedPostgres
        do {
            startedPostgres = try await EmbeddedPostgres.start(directory: directory + "/postgres", logger: logger)
        } catch {
            startedRedis.stop()
            throw error
        }
        if let kafkaBrokers, !kafkaBrokers.isEmpty {
            logger.info("using the Kafka cluster from KAFKA_BROKERS", metadata: ["kafka.brokers": "\(kafkaBrokers)"])
            return EmbeddedStack(directory: directory, redis: startedRedis, postgres: startedPostgres, mockKafka: nil, brokers: kafkaBrokers, logger: logger)
        }
        let mock = try KafkaMockCluster(brokers: mockBrokers, logger: logger)
        return EmbeddedStack(directory: directory, redis: startedRedis, postgres: startedPostgres, mockKafka: mock, brokers: mock.bootstrapServers, logger: logger)
    }

    public var kafkaConfig: KafkaConfig { KafkaConfig(bootstrapServers: brokers) }

    /// Consumer-only properties: with the mock cluster, short session and heartbeat intervals so
    /// group rebalances on one machine take seconds rather than tens of seconds.
    public var consumerProperties: [String: String] {
        mockKafka == nil ? [:] : ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
    }

    /// Creates a topic on whichever Kafka is in use (an existing topic is left as it is).
    public func createTopic(_ name: String, partitions: Int) async throws {
        if let mockKafka {
            try await mockKafka.createTopic(name, partitions: Int32(partitions))
        } else {
            let admin = try KafkaAdmin(config: kafkaConfig, logger: logger)
            try await admin.createTopics([NewTopic(name: name, partitions: Int32(partitions), replicationFactor: -1)])
            await admin.close()
        }
    }

    /// Runs `body`, then stops the stack whether `body` succeeded or threw.
    public func whileRunning<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    /// Creates `topic` and its dead-letter topic `<topic>.dlq` with the same partition count.
    public func createTopics(_ topic: String, partitions: Int) async throws {
        try await createTopic(topic, partitions: partitions)
        try await createTopic("\(topic).dlq", partitions: partitions)
    }

    public func stop() async {
        await mockKafka?.close()
        redis.stop()
        postgres.stop()
    }
}
