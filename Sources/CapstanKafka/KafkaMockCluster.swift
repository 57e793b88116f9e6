import CRdKafka
import CapstanCore
import Logging

/// librdkafka's in-process mock Kafka cluster, for tests and Capstan's embedded mode.
///
/// The brokers listen on real loopback TCP ports, so clients in this process or in other
/// processes connect through `bootstrapServers` as to a real cluster. It supports producing
/// (including idempotence), fetching, consumer groups with committed offsets, and metadata.
/// Data lives in memory and is gone after `close()`.
public actor KafkaMockCluster {
    private let thread = DedicatedThreadExecutor(name: "capstan.kafka.mock")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// `host:port` list of the mock brokers, for `KafkaConfig.bootstrapServers`.
    public nonisolated let bootstrapServers: String
    public nonisolated let brokerCount: Int

    private let rkBox = HandleBox()
    private let clusterBox = HandleBox()
    private var rk: OpaquePointer? {
        get { rkBox.pointer }
        set { rkBox.pointer = newValue }
    }
    private var cluster: OpaquePointer? {
        get { clusterBox.pointer }
        set { clusterBox.pointer = newValue }
    }
    private let context: ClientContext

    /// Starts a mock cluster with `brokers` brokers.
    public init(brokers: Int = 1, logger: Logger) throws(CapstanError) {
        guard (1...16).contains(brokers) else {
            throw CapstanError(.invalidArgument, "Kafka mock cluster: broker count must be 1...16, got \(brokers)")
        }
        context = ClientContext(logger: logger, client: "mock-cluster")
        guard let conf = rd_kafka_conf_new() else {
            throw CapstanError(.internal, "librdkafka could not allocate a configuration object")
        }
        context.install(on: conf)
        let rk = try makeHandle(RD_KAFKA_PRODUCER, conf, client: "mock-cluster")
        guard let cluster = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw CapstanError(.unavailable, "Kafka mock cluster: librdkafka could not start the mock brokers")
        }
        rkBox.pointer = rk
        clusterBox.pointer = cluster
        brokerCount = brokers
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        // The last reference is gone, so no isolated method can run concurrently: the handles
        // are ours (see HandleBox for why this is not an isolated deinit).
        if let cluster = clusterBox.pointer { rd_kafka_mock_cluster_destroy(cluster) }
        if let rk = rkBox.pointer { rd_kafka_destroy(rk) }
        thread.shutdown()
    }

    /// Creates a topic on the mock brokers (any topic a client uses that does not exist is
    /// otherwise auto-created by the mock with its default partition count).
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        guard let cluster else { throw CapstanError(.closed, "Kafka mock cluster is closed") }
        guard partitions > 0, replicationFactor > 0, Int(replicationFactor) <= brokerCount else {
            throw CapstanError(
                .invalidArgument,
                "Kafka mock cluster: topic '\(name)' needs partitions > 0 and 1...\(brokerCount) replicas")
        }
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw CapstanError(.server, "Kafka mock cluster: could not create topic '\(name)': \(errorText(err))")
        }
    }

    /// Stops the brokers. Connected clients see the cluster disappear.
    public func close() {
        destroy()
    }

    private func destroy() {
        if let cluster { rd_kafka_mock_cluster_destroy(cluster) }
        if let rk { rd_kafka_destroy(rk) }
        cluster = nil
        rk = nil
    }
}
