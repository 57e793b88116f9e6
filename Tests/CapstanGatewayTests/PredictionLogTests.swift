import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanKafka
import Foundation
import Testing

@Suite("Prediction log to Kafka", .timeLimit(.minutes(3)))
struct PredictionLogTests {
    @Test("every prediction reaches the predictions topic as JSON, keyed by entity")
    func reachesTopic() async throws {
        let redis = try await GatewayTestServers.shared.redisServer()
        let cluster = try await GatewayTestServers.shared.kafkaCluster()
        let topic = "predictions-\(UUID().uuidString.prefix(8))"
        try await cluster.createTopic(topic, partitions: 1)
        let kafka = KafkaConfig(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(config: kafka, logger: testLogger)
        let log = PredictionLog(producer: producer, topic: topic, capacity: 100, logger: testLogger)
        let drain = Task { await log.run() }

        let p = uniqueViewPrefix()
        try await writeFeatures(redis, view: "\(p)_a", entity: "u1", ts: 7, ["x": "3"])
        let gateway = try Gateway(
            configuration: GatewayConfiguration(models: [threeViewModel(prefix: p)]), redis: try .init(url: redis.url),
            backends: Backends(["v1": RecordingBackend(offset: 0), "v2": RecordingBackend(offset: 100)]).factory,
            predictionLog: log, seed: 9, logger: testLogger)
        await gateway.refreshReadiness()
        _ = try await gateway.predict(model: "churn", entities: ["u1", "u2"], requestID: "req-1")

        let consumer = try KafkaConsumer(config: kafka, groupID: "reader-\(UUID().uuidString)", topics: [topic], logger: testLogger)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while messages.count < 2, ContinuousClock.now < deadline {
            let result = try await consumer.poll(maxMessages: 100, timeout: .milliseconds(100))
            try await consumer.completeRebalance(result.rebalance, startingAt: 0)
            messages += result.messages
        }
        await consumer.close()
        #expect(messages.count == 2)
        let records = try messages.map { try #require(try JSONSerialization.jsonObject(with: Data($0.value)) as? [String: Any]) }
        #expect(messages.map { String(decoding: $0.key ?? [], as: UTF8.self) }.sorted() == ["u1", "u2"])
        let first = try #require(records.first { $0["entity"] as? String == "u1" })
        #expect(first["request_id"] as? String == "req-1")
        #expect(first["model"] as? String == "churn")
        #expect(first["version"] as? String == "v1")
        #expect(first["output"] as? [Double] == [2])  // x=3, y default -1
        let features = try #require(first["features"] as? [Any])
        #expect(features.count == 5 && features[0] as? Double == 3 && features[1] as? Double == -1 && features[3] is NSNull)
        #expect(first["missing"] as? [String] == ["\(p)_b:y", "\(p)_a:band", "\(p)_c:z", "\(p)_b:w"])
        #expect(first["ts"] is Int)
        #expect(log.droppedCount == 0)

        log.finish()
        await drain.value
        await producer.close()
    }

    @Test("when Kafka cannot keep up, the queue stays bounded and drops are counted")
    func dropsUnderBackPressure() async throws {
        // A broker nobody listens on and a one-message local queue: the first record fills
        // librdkafka's queue, the drain task then waits for room that never comes.
        let deadPort = try Loopback.freePort()
        let kafka = KafkaConfig(bootstrapServers: "127.0.0.1:\(deadPort)", properties: [
            "queue.buffering.max.messages": "1", "message.timeout.ms": "600000",
        ])
        let producer = try KafkaProducer(config: kafka, logger: testLogger)
        let log = PredictionLog(producer: producer, topic: "predictions", capacity: 4, logger: testLogger)
        let drain = Task { await log.run() }
        func record(_ i: Int) -> Bool {
            log.record(PredictionRecord(requestID: "r\(i)", model: "m", version: "v1", entity: "e\(i)", features: [1], output: [0.5], missing: [], timeMillis: 1))
        }
        #expect(record(0))
        #expect(await eventually { log.handedToKafkaCount == 1 })
        var accepted = 0
        for i in 1...100 where record(i) { accepted += 1 }
        // At most the queue's capacity plus the one record the drain task is holding.
        #expect(accepted <= 5)
        #expect(log.droppedCount == 100 - accepted)
        #expect(log.droppedCount >= 95)
        await producer.close(timeout: .milliseconds(100))
        log.finish()
        await drain.value
    }
}
