import CapstanCore
import CapstanKafka
import Testing

@Suite("KafkaProducer against the mock cluster", .timeLimit(.minutes(3)))
struct ProducerTests {
    @Test("keyed records are consumed in production order within each partition, one key per partition")
    func keyedRecordsKeepOrderPerPartition() async throws {
        try await withMockCluster { cluster in
            try await cluster.createTopic("orders", partitions: 3)
            let producer = try KafkaProducer(
                config: KafkaConfig(bootstrapServers: cluster.bootstrapServers), logger: testLogger())
            for index in 0..<300 {
                let key = "user-\(index % 7)"
                try await producer.send(
                    topic: "orders", key: Array(key.utf8), value: Array("\(key):\(index)".utf8),
                    headers: [("seq", Array(String(index).utf8))])
            }
            #expect(producer.deliveredCount == 300)
            await producer.close()

            let consumer = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "order-check", topics: ["orders"], logger: testLogger())
            let (messages, events) = try await pollUntil(consumer) { $0.count >= 300 }
            await consumer.close()

            #expect(messages.count == 300)
            #expect(events.first == .assigned([0, 1, 2].map { TopicPartition(topic: "orders", partition: $0) }))
            var partitionOfKey: [String: Int32] = [:]
            var lastSeqOfKey: [String: Int] = [:]
            var lastOffset: [Int32: Int64] = [:]
            for message in messages {
                let parts = message.text.split(separator: ":")
                let key = String(parts[0])
                let seq = Int(parts[1])!
                #expect(message.key == Array(key.utf8))
                #expect(message.headers.count == 1 && message.headers[0].0 == "seq")
                #expect(message.headers.first?.1 == Array(String(seq).utf8))
                #expect(message.timestampMillis != nil)
                #expect(partitionOfKey[key, default: message.partition] == message.partition)
                partitionOfKey[key] = message.partition
                #expect(seq > lastSeqOfKey[key, default: -1], "key \(key) out of order")
                lastSeqOfKey[key] = seq
                #expect(message.offset > lastOffset[message.partition, default: -1])
                lastOffset[message.partition] = message.offset
            }
            #expect(Set(partitionOfKey.values).count > 1, "keys should spread over partitions")
        }
    }

    @Test("enqueue delivers 100k small records through local-queue backpressure")
    func enqueueHundredThousand() async throws {
        try await withMockCluster { cluster in
            try await cluster.createTopic("events", partitions: 4)
            let producer = try KafkaProducer(
                config: KafkaConfig(
                    bootstrapServers: cluster.bootstrapServers,
                    // A small local queue forces the QUEUE_FULL backoff path.
                    properties: ["queue.buffering.max.messages": "1000", "linger.ms": "20"]),
                logger: testLogger())
            let total = 100_000
            for index in 0..<total {
                try await producer.enqueue(topic: "events", key: Array("k\(index % 100)".utf8), value: Array("\(index)".utf8))
            }
            try await producer.flush(timeout: .seconds(60))
            #expect(producer.deliveredCount == total)
            #expect(producer.failedCount == 0)
            #expect(producer.lastError == nil)
            #expect(producer.inFlightCount == 0)
            #expect(producer.queueFullWaitCount > 0, "the local queue should have filled up")
            await producer.close()

            let consumer = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "count", topics: ["events"], logger: testLogger())
            let (messages, _) = try await pollUntil(consumer) { $0.count >= total }
            await consumer.close()
            #expect(messages.count == total)
            #expect(Set(messages.map(\.text)).count == total)
        }
    }

    @Test("a record that cannot be delivered fails send with librdkafka's reason and is counted")
    func undeliverableRecordFails() async throws {
        // Nothing listens on port 1; the message times out.
        let producer = try KafkaProducer(
            config: KafkaConfig(
                bootstrapServers: "127.0.0.1:1",
                properties: ["message.timeout.ms": "1500", "reconnect.backoff.max.ms": "200"]),
            logger: testLogger())
        let error = await #expect(throws: CapstanError.self) {
            try await producer.send(topic: "nowhere", key: nil, value: Array("x".utf8))
        }
        #expect(error?.code == .server)
        #expect(error?.message.contains("nowhere") == true)
        #expect(error?.message.contains("MSG_TIMED_OUT") == true)
        #expect(producer.failedCount == 1)
        #expect(producer.deliveredCount == 0)
        #expect(producer.lastError == error)
        await producer.close()
        await #expect(throws: CapstanError.self) {
            try await producer.enqueue(topic: "nowhere", key: nil, value: [])
        }
        await #expect(throws: CapstanError.self) { try await producer.flush(timeout: .seconds(1)) }
    }

    @Test("invalid properties and overrides of required settings are rejected with the property named")
    func rejectsBadConfiguration() throws {
        let unknown = #expect(throws: CapstanError.self) {
            _ = try KafkaProducer(
                config: KafkaConfig(bootstrapServers: "127.0.0.1:9092", properties: ["no.such.setting": "1"]),
                logger: testLogger())
        }
        #expect(unknown?.code == .invalidArgument)
        #expect(unknown?.message.contains("no.such.setting") == true)

        let badValue = #expect(throws: CapstanError.self) {
            _ = try KafkaProducer(
                config: KafkaConfig(bootstrapServers: "127.0.0.1:9092", properties: ["acks": "sometimes"]),
                logger: testLogger())
        }
        #expect(badValue?.message.contains("acks") == true)

        let override = #expect(throws: CapstanError.self) {
            _ = try KafkaProducer(
                config: KafkaConfig(bootstrapServers: "127.0.0.1:9092", properties: ["enable.idempotence": "false"]),
                logger: testLogger())
        }
        #expect(override?.message.contains("enable.idempotence") == true)

        let secret = #expect(throws: CapstanError.self) {
            _ = try KafkaProducer(
                config: KafkaConfig(
                    bootstrapServers: "127.0.0.1:9092", properties: ["sasl.password.typo": "hunter2-secret"]),
                logger: testLogger())
        }
        #expect(secret?.message.contains("hunter2") == false)
        let described = String(describing: KafkaConfig(
            bootstrapServers: "b:9092", properties: ["sasl.password": "hunter2", "acks": "all"]))
        #expect(!described.contains("hunter2") && described.contains("acks=all"))
    }
}
