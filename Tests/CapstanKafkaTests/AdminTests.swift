import CapstanCore
import CapstanKafka
import Foundation
import Testing

/// A real cluster for tests the mock cannot serve, e.g. `KAFKA_BROKERS=localhost:9092`.
private let realBrokers = ProcessInfo.processInfo.environment["KAFKA_BROKERS"]

@Suite("KafkaAdmin", .timeLimit(.minutes(2)))
struct AdminTests {
    // librdkafka 2.0.2's mock cluster advertises ControllerId 0 while numbering its brokers
    // from 1, so CreateTopics (which must go to the controller) cannot reach it; this test
    // needs a real cluster.
    @Test(
        "createTopics creates topics with their partition counts and tolerates existing ones",
        .enabled(if: realBrokers != nil, "needs KAFKA_BROKERS (the 2.0.2 mock has no reachable controller)"))
    func createsTopics() async throws {
        let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: realBrokers!), logger: testLogger())
        let suffix = UInt32.random(in: 0...UInt32.max)
        let features = "capstan-test-features-\(suffix)"
        let events = "capstan-test-events-\(suffix)"
        try await admin.createTopics([
            NewTopic(name: features, partitions: 6),
            NewTopic(name: events, partitions: 2),
        ])
        try await admin.createTopics([NewTopic(name: features, partitions: 6)])
        #expect(try await admin.partitionCount(features) == 6)
        #expect(try await admin.partitionCount(events) == 2)
        await admin.close()
    }

    @Test("createTopics fails with a CapstanError within its timeout when no broker answers")
    func createTopicsTimesOut() async throws {
        let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: "127.0.0.1:1"), logger: testLogger())
        let error = await #expect(throws: CapstanError.self) {
            try await admin.createTopics([NewTopic(name: "t", partitions: 1)], timeout: .seconds(1))
        }
        #expect(error?.code == .timeout)
        await admin.close()
    }

    @Test("partitionCount reads the partition count of a topic and reports missing topics as notFound")
    func partitionCountOfMockTopics() async throws {
        try await withMockCluster(brokers: 3) { cluster in
            try await cluster.createTopic("direct", partitions: 5, replicationFactor: 3)
            try await cluster.createTopic("single", partitions: 1)
            let admin = try KafkaAdmin(
                config: KafkaConfig(bootstrapServers: cluster.bootstrapServers), logger: testLogger())
            #expect(try await admin.partitionCount("direct") == 5)
            #expect(try await admin.partitionCount("single") == 1)
            let missing = await #expect(throws: CapstanError.self) { _ = try await admin.partitionCount("absent") }
            #expect(missing?.code == .notFound)
            await admin.close()
            await #expect(throws: CapstanError.self) { _ = try await admin.partitionCount("direct") }
        }
    }
}
