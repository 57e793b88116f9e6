import CRdKafka
import CapstanCore
import Logging

/// A topic to create with `KafkaAdmin.createTopics`.
public struct NewTopic: Sendable, Hashable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int32

    public init(name: String, partitions: Int32, replicationFactor: Int32 = 1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// Topic administration (create topics, read partition counts). Every call runs on the
/// admin client's dedicated thread. Call `close()` when done.
public actor KafkaAdmin {
    private let thread = DedicatedThreadExecutor(name: "capstan.kafka.admin")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    private let rkBox = HandleBox()
    private var rk: OpaquePointer? {
        get { rkBox.pointer }
        set { rkBox.pointer = newValue }
    }
    private let context: ClientContext

    public init(config: KafkaConfig, logger: Logger) throws(CapstanError) {
        context = ClientContext(logger: logger, client: "admin")
        let conf = try config.makeConf(client: "admin", fixed: [])
        context.install(on: conf)
        rkBox.pointer = try makeHandle(RD_KAFKA_PRODUCER, conf, client: "admin")
    }

    deinit {
        // No other reference exists, so the handle is ours (see HandleBox). rd_kafka_destroy
        // waits for librdkafka's threads: it runs on the admin's thread, not the releasing one.
        let (box, context) = (rkBox, context)
        thread.shutdown {
            guard let rk = box.pointer else { return }
            withExtendedLifetime(context) { rd_kafka_destroy(rk) }
            box.pointer = nil
        }
    }

    /// Creates the topics; topics that already exist are left as they are (their partition
    /// count is not checked: use `partitionCount`). Throws the first per-topic failure.
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(30)) throws {
        let rk = try handle()
        guard !topics.isEmpty else { return }
        _ = rd_kafka_poll(rk, 0)  // serve queued error/log events
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, &errstr, errstr.count) else {
                throw CapstanError(.invalidArgument, "Kafka admin: invalid topic '\(topic.name)': \(cString(errstr))")
            }
            newTopics.append(newTopic)
        }
        let millis = timeout.rdTimeoutMillis
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, millis, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, millis, &errstr, errstr.count)
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        rd_kafka_CreateTopics(rk, &newTopics, newTopics.count, options, queue)
        guard let event = rd_kafka_queue_poll(queue, millis &+ 5_000) else {
            throw CapstanError(.timeout, "Kafka admin: creating topics timed out after \(millis) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw CapstanError(
                err == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timeout : .server,
                "Kafka admin: creating topics failed: \(String(cString: rd_kafka_event_error_string(event))) (\(errorName(err)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw CapstanError(.protocolError, "Kafka admin: CreateTopics returned an unexpected event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let code = rd_kafka_topic_result_error(topicResult)
            guard code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let reason = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? errorText(code)
            throw CapstanError(.server, "Kafka admin: could not create topic '\(name)': \(reason) (\(errorName(code)))")
        }
    }

    /// The number of partitions of `topic`, from cluster metadata. Throws `.notFound` if the
    /// topic does not exist.
    public func partitionCount(_ topic: String, timeout: Duration = .seconds(10)) throws -> Int {
        let rk = try handle()
        _ = rd_kafka_poll(rk, 0)
        var metadata: UnsafePointer<rd_kafka_metadata>?
        // All topics (not just this one) so that the request never auto-creates it.
        let err = rd_kafka_metadata(rk, 1, nil, &metadata, timeout.rdTimeoutMillis)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw CapstanError(.unavailable, "Kafka admin: could not read cluster metadata: \(errorText(err))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard String(cString: entry.topic) == topic else { continue }
            if entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { break }
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw CapstanError(.server, "Kafka admin: metadata for topic '\(topic)' has an error: \(errorText(entry.err))")
            }
            return Int(entry.partition_cnt)
        }
        throw CapstanError(.notFound, "Kafka admin: topic '\(topic)' does not exist")
    }

    /// Destroys the client. Later calls throw `.closed`.
    public func close() {
        if let rk { rd_kafka_destroy(rk) }
        rk = nil
    }

    private func handle() throws(CapstanError) -> OpaquePointer {
        guard let rk else { throw CapstanError(.closed, "Kafka admin client is closed") }
        return rk
    }
}

func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
