import CapstanCore
import CapstanKafka
import Foundation
import Logging
import Testing

/// Logs go nowhere unless KAFKA_TEST_LOG is set (then to stderr at debug level).
func testLogger(_ label: String = "capstan.kafka.test") -> Logger {
    guard ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"] != nil else {
        return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .trace
    return logger
}

/// Consumer settings that keep the mock cluster's rebalances short.
func consumerConfig(_ cluster: KafkaMockCluster, _ extra: [String: String] = [:]) -> KafkaConfig {
    var properties = [
        "auto.offset.reset": "earliest",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "300",
        "topic.metadata.refresh.interval.ms": "1000",
    ]
    if let debug = ProcessInfo.processInfo.environment["KAFKA_TEST_DEBUG"] { properties["debug"] = debug }
    properties.merge(extra) { $1 }
    return KafkaConfig(bootstrapServers: cluster.bootstrapServers, properties: properties)
}

func withMockCluster<T>(
    brokers: Int = 1, _ body: (KafkaMockCluster) async throws -> T
) async throws -> T {
    let cluster = try KafkaMockCluster(brokers: brokers, logger: testLogger("capstan.kafka.mock"))
    do {
        let result = try await body(cluster)
        await cluster.close()
        return result
    } catch {
        await cluster.close()
        throw error
    }
}

/// Produces `count` records `key-(i % keys)` / `"<key>:<i>"` and waits until all are delivered.
func produce(_ cluster: KafkaMockCluster, topic: String, count: Int, keys: Int, from start: Int = 0) async throws {
    let producer = try KafkaProducer(
        config: KafkaConfig(bootstrapServers: cluster.bootstrapServers), logger: testLogger())
    for index in start..<(start + count) {
        let key = "key-\(index % keys)"
        try await producer.enqueue(topic: topic, key: Array(key.utf8), value: Array("\(key):\(index)".utf8))
    }
    try await producer.flush(timeout: .seconds(30))
    #expect(producer.failedCount == 0)
    await producer.close()
}

/// Polls until `done` holds, completing assignments at the committed offsets.
func pollUntil(
    _ consumer: KafkaConsumer, timeout: Duration = .seconds(60),
    _ done: ([KafkaMessage]) -> Bool
) async throws -> (messages: [KafkaMessage], events: [RebalanceEvent]) {
    var messages: [KafkaMessage] = []
    var events: [RebalanceEvent] = []
    let deadline = ContinuousClock.now + timeout
    while !done(messages) {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out after \(messages.count) messages and events \(events)")
            break
        }
        let result = try await consumer.poll(maxMessages: 500, timeout: .milliseconds(200))
        messages += result.messages
        for event in result.rebalance {
            events.append(event)
            switch event {
            case .assigned(let partitions):
                try await consumer.completeAssignment(Dictionary(uniqueKeysWithValues: partitions.map { ($0, nil) }))
            case .revoked:
                try await consumer.completeRevocation()
            }
        }
    }
    return (messages, events)
}

extension KafkaMessage {
    var text: String { String(decoding: value, as: UTF8.self) }
}
