import CapstanCore
import CapstanKafka
import Testing

@Suite("KafkaConsumer against the mock cluster", .timeLimit(.minutes(3)))
struct ConsumerTests {
    @Test("a new member of the group resumes at the committed offset: no duplicates, no gaps")
    func resumesAtCommittedOffset() async throws {
        try await withMockCluster { cluster in
            try await cluster.createTopic("ledger", partitions: 1)
            try await produce(cluster, topic: "ledger", count: 100, keys: 5)
            let tp = TopicPartition(topic: "ledger", partition: 0)

            let first = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "resume", topics: ["ledger"], logger: testLogger())
            let (seen, _) = try await pollUntil(first) { $0.count >= 40 }
            let processed = Array(seen.prefix(40))
            try await first.commit([tp: processed.last!.offset + 1])
            await first.close()

            let second = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "resume", topics: ["ledger"], logger: testLogger())
            let (rest, events) = try await pollUntil(second) { $0.count >= 60 }
            await second.close()

            #expect(events == [.assigned([tp])])
            #expect(processed.map(\.offset) == Array(0..<40))
            #expect(rest.map(\.offset) == Array(40..<100))
        }
    }

    @Test("completeAssignment with explicit offsets starts fetching there")
    func explicitOffsetsSeek() async throws {
        try await withMockCluster { cluster in
            try await cluster.createTopic("replay", partitions: 2)
            try await produce(cluster, topic: "replay", count: 200, keys: 10)
            let consumer = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "seek", topics: ["replay"], logger: testLogger())
            var assigned: [TopicPartition] = []
            for _ in 0..<100 where assigned.isEmpty {
                let result = try await consumer.poll(maxMessages: 10, timeout: .milliseconds(200))
                #expect(result.messages.isEmpty, "no records before the assignment is completed")
                if case .assigned(let partitions) = result.rebalance.first { assigned = partitions }
            }
            #expect(assigned.count == 2)
            let p0 = TopicPartition(topic: "replay", partition: 0)
            let p1 = TopicPartition(topic: "replay", partition: 1)
            try await consumer.completeAssignment([p0: 7, p1: 3])
            var messages: [KafkaMessage] = []
            var heads: [TopicPartition: Int64] = [:]
            while heads.count < 2 {
                let result = try await consumer.poll(maxMessages: 100, timeout: .milliseconds(200))
                #expect(result.rebalance.isEmpty)
                for message in result.messages where heads[message.topicPartition] == nil {
                    heads[message.topicPartition] = message.offset
                }
                messages += result.messages
            }
            await consumer.close()
            #expect(heads == [p0: 7, p1: 3])
        }
    }

    @Test("lag is the high watermark minus the next offset to process")
    func reportsLag() async throws {
        try await withMockCluster { cluster in
            try await cluster.createTopic("metrics", partitions: 1)
            try await produce(cluster, topic: "metrics", count: 100, keys: 1)
            let tp = TopicPartition(topic: "metrics", partition: 0)
            let consumer = try KafkaConsumer(
                config: consumerConfig(cluster, ["fetch.max.bytes": "1000000"]), groupID: "lagging",
                topics: ["metrics"], logger: testLogger())
            var processed = 0
            while processed < 10 {
                let result = try await consumer.poll(maxMessages: 10 - processed, timeout: .milliseconds(200))
                processed += result.messages.count
                if case .assigned = result.rebalance.first { try await consumer.completeAssignment([tp: nil]) }
            }
            #expect(consumer.lag() == [tp: 90])
            let (_, _) = try await pollUntil(consumer) { $0.count >= 90 }
            #expect(consumer.lag() == [tp: 0])
            try await consumer.commit([tp: 100])
            await consumer.close()
            #expect(consumer.lag().isEmpty)
            await #expect(throws: CapstanError.self) { _ = try await consumer.poll(maxMessages: 1, timeout: .zero) }
        }
    }

    @Test("completing a rebalance that is not pending is rejected")
    func rejectsUnexpectedCompletion() async throws {
        try await withMockCluster { cluster in
            let consumer = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "strict", topics: ["any"], logger: testLogger())
            let error = await #expect(throws: CapstanError.self) { try await consumer.completeRevocation() }
            #expect(error?.code == .conflict)
            await consumer.close()
        }
    }

    @Test("incremental (cooperative) assignment is rejected")
    func rejectsCooperativeStrategy() throws {
        #expect(throws: CapstanError.self) {
            _ = try KafkaConsumer(
                config: KafkaConfig(
                    bootstrapServers: "127.0.0.1:9092",
                    properties: ["partition.assignment.strategy": "cooperative-sticky"]),
                groupID: "g", topics: ["t"], logger: testLogger())
        }
        #expect(throws: CapstanError.self) {
            _ = try KafkaConsumer(
                config: KafkaConfig(bootstrapServers: "127.0.0.1:9092", properties: ["enable.auto.commit": "true"]),
                groupID: "g", topics: ["t"], logger: testLogger())
        }
    }
}
