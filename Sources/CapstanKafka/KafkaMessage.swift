import CRdKafka

/// One partition of one topic.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A record read by `KafkaConsumer`.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// `nil` when the record has no key.
    public var key: [UInt8]?
    /// Empty for empty and for null (tombstone) values.
    public var value: [UInt8]
    /// Producer- or broker-assigned timestamp (Unix epoch milliseconds), when the record has one.
    public var timestampMillis: Int64?
    /// Record headers in wire order; names may repeat.
    public var headers: [(String, [UInt8])]

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
                timestampMillis: Int64? = nil, headers: [(String, [UInt8])] = []) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMillis = timestampMillis
        self.headers = headers
    }

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// Copies a message out of librdkafka (which still owns and later frees `message`).
    init(copying message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        partition = m.partition
        offset = m.offset
        key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        timestampMillis = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 ? nil : timestamp
        headers = []
        var list: OpaquePointer?
        // Only parses headers when the record has some; the list belongs to the message.
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append((name.map { String(cString: $0) } ?? "", value))
                index += 1
            }
        }
    }
}

/// A consumer-group rebalance step that the application must complete (see `KafkaConsumer`).
public enum RebalanceEvent: Sendable, Equatable {
    /// The group gave these partitions to this member. Restore state, then call
    /// `completeAssignment` with the offsets to start from.
    case assigned([TopicPartition])
    /// These partitions are taken away. Make work durable, commit, then call `completeRevocation`.
    case revoked([TopicPartition])
}

/// What one `KafkaConsumer.poll` produced.
public struct PollResult: Sendable {
    /// Rebalance events in the order they happened (at most one in practice: the group waits
    /// for each to be completed before moving on).
    public var rebalance: [RebalanceEvent]
    /// Records of partitions this member owns, in offset order within each partition. Never
    /// contains records of partitions revoked by an event in `rebalance`.
    public var messages: [KafkaMessage]

    public init(rebalance: [RebalanceEvent] = [], messages: [KafkaMessage] = []) {
        self.rebalance = rebalance
        self.messages = messages
    }
}

extension Array where Element == TopicPartition {
    /// Copies a librdkafka partition list (which the caller still owns).
    init(copying list: UnsafePointer<rd_kafka_topic_partition_list_t>?) {
        self = []
        guard let list, let elements = list.pointee.elems else { return }
        for index in 0..<Int(list.pointee.cnt) {
            let element = elements[index]
            self.append(TopicPartition(topic: String(cString: element.topic), partition: element.partition))
        }
    }
}

/// Builds a librdkafka partition list; the caller destroys it.
func makePartitionList(_ entries: [(TopicPartition, Int64)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(clamping: entries.count))!
    for (tp, offset) in entries {
        rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
    }
    return list
}
