import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanKafka
import CapstanPostgres
import CapstanPredictionLog
import CapstanStore
import Foundation
import Logging
import Testing

@Suite("Prediction log: Kafka mock cluster → consumer → PostgreSQL, exactly once", .serialized, .timeLimit(.minutes(5)))
struct PredictionLogConsumerTests {
    let logger: Logger = {
        var logger = Logger(label: "test.predictions")
        logger.logLevel = .warning
        return logger
    }()

    struct Produced {
        /// request id → model, of every valid record.
        var valid: [String: String] = [:]
        /// The malformed records' bytes → the reason fragment expected.
        var malformed: [String: String] = [:]
        var total: Int { valid.count + malformed.count }
    }

    /// `count` valid predictions of models "a" and "b", every 25th followed by a malformed record.
    func produce(_ stack: EmbeddedStack, topic: String, count: Int) async throws -> Produced {
        let producer = try KafkaProducer(config: stack.kafkaConfig, logger: logger)
        var produced = Produced()
        let bad = PredictionLogFixtures.malformed.filter { !$0.json.isEmpty }
        for i in 0..<count {
            let model = i % 3 == 0 ? "b" : "a"
            let record = PredictionRecord(
                requestID: "req-\(i)", model: model, version: "v1", entity: "user-\(i % 97)", features: [Double(i), i % 10 == 0 ? .nan : 1],
                output: [Double(i % 100) / 100], missing: i % 10 == 0 ? ["f2"] : [], timeMillis: 1_765_000_000_000 + Int64(i))
            try await producer.enqueue(topic: topic, key: Array(record.entity.utf8), value: record.json())
            produced.valid[record.requestID] = model
            if i % 25 == 0 {
                // Unique bytes per record (the marker member is ignored by a reader), so each reject is identifiable.
                let example = bad[(i / 25) % bad.count]
                let json = example.json.hasPrefix("{") && example.kind != .notJSON
                    ? "{\"marker\":\(i)," + example.json.dropFirst() : example.json + " ".padding(toLength: i / 25, withPad: " ", startingAt: 0) + "x"
                try await producer.enqueue(topic: topic, key: Array("bad-\(i)".utf8), value: Array(json.utf8))
                produced.malformed[json] = example.kind == .notObject || example.kind == .notJSON ? "not JSON" : example.reasonContains
            }
        }
        try await producer.flush(timeout: .seconds(30))
        #expect(producer.failedCount == 0)
        await producer.close()
        return produced
    }

    func rows(_ db: String) async throws -> [(request: String, model: String, partition: Int32, offset: Int64)] {
        let c = try await PostgresConnection.connect(try PostgresConfig(url: db), logger: logger)
        let result = try await c.query("SELECT request_id, model, source_partition, source_offset FROM capstan_predictions")
        await c.close()
        return try result.map { (request: $0.string(at: 0) ?? "", model: $0.string(at: 1) ?? "", partition: Int32(try $0.int64(at: 2) ?? -1), offset: try $0.int64(at: 3) ?? -1) }
    }

    func rejects(_ db: String) async throws -> [(record: String, reason: String)] {
        let c = try await PostgresConnection.connect(try PostgresConfig(url: db), logger: logger)
        let result = try await c.query("SELECT convert_from(record, 'UTF8'), reason FROM capstan_prediction_rejects")
        await c.close()
        return result.map { (record: $0.string(at: 0) ?? "", reason: $0.string(at: 1) ?? "") }
    }

    func config(_ stack: EmbeddedStack, topic: String, db: String) -> PredictionLogConfiguration {
        var config = PredictionLogConfiguration(kafka: stack.kafkaConfig, postgresURL: db)
        config.topic = topic
        config.groupID = "g-\(topic)"
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        config.batchSize = 40
        config.maxBatchDelay = .milliseconds(50)
        return config
    }

    /// Waits until `condition` holds or `timeout` passes.
    func eventually(_ timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test("killed between batches and restarted: every valid record stored once, every malformed one rejected with its reason, offsets stored")
    func killAndRestartStoresEachRecordOnce() async throws {
        let stack = try await PredictionLogStack.shared.get()
        let topic = "predictions-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopic(topic, partitions: 3)
        let produced = try await produce(stack, topic: topic, count: 1500)
        let db = try await PredictionLogStack.shared.freshDatabase()
        let config = config(stack, topic: topic, db: db)

        // First consumer: killed (its task cancelled: no final write, no graceful leave) once
        // a few batches are in.
        let first = PredictionLogConsumer(configuration: config, logger: logger)
        let running = Task { try await first.run() }
        #expect(try await eventually { first.metrics.current.batches >= 3 })
        running.cancel()
        _ = await running.result
        let afterKill = try await rows(db).count
        #expect(afterKill > 0 && afterKill < produced.valid.count, "the kill should land mid-way (\(afterKill) of \(produced.valid.count) stored)")

        // Second consumer, same group: resumes from the stored offsets.
        let second = PredictionLogConsumer(configuration: config, logger: logger)
        let resumed = Task { try await second.run() }
        let done = try await eventually {
            let (r, j) = (try await rows(db).count, try await rejects(db).count)
            return r + j >= produced.total
        }
        #expect(done)
        second.requestStop()
        try await resumed.value

        let stored = try await rows(db)
        #expect(stored.count == produced.valid.count)
        #expect(Set(stored.map(\.request)).count == stored.count, "a request was stored twice")
        #expect(Dictionary(stored.map { ($0.request, $0.model) }, uniquingKeysWith: { first, _ in first }) == produced.valid)
        #expect(Set(stored.map { "\($0.partition)/\($0.offset)" }).count == stored.count)

        let rejected = try await rejects(db)
        #expect(rejected.count == produced.malformed.count)
        for reject in rejected {
            guard let expected = produced.malformed[reject.record] else {
                Issue.record("unexpected reject \(reject.record)")
                continue
            }
            #expect(reject.reason.contains(expected), "\(reject.record): \(reject.reason)")
        }
        #expect(first.metrics.current.rejects + second.metrics.current.rejects == produced.malformed.count)

        // The offsets stored with the rows cover the whole topic (a fresh topic starts at 0).
        let store = PredictionLogStore(pool: PostgresPool(config: try PostgresConfig(url: db), size: 1, logger: logger), group: config.groupID, logger: logger)
        let offsets = try await store.committedOffsets(topic: topic)
        #expect(offsets.count == 3)
        #expect(offsets.values.reduce(0, +) == Int64(produced.total))
        await store.pool.close()
    }

    @Test("a model filter keeps only that model's predictions and still advances over the others")
    func modelFilter() async throws {
        let stack = try await PredictionLogStack.shared.get()
        let topic = "predictions-f-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopic(topic, partitions: 2)
        let produced = try await produce(stack, topic: topic, count: 300)
        let db = try await PredictionLogStack.shared.freshDatabase()
        var config = config(stack, topic: topic, db: db)
        config.model = "b"
        let consumer = PredictionLogConsumer(configuration: config, logger: logger)
        let running = Task { try await consumer.run() }
        let expected = produced.valid.filter { $0.value == "b" }
        let skipped = produced.valid.count - expected.count
        #expect(try await eventually { consumer.metrics.current.skipped >= skipped && consumer.metrics.current.rows >= expected.count })
        consumer.requestStop()
        try await running.value
        let stored = try await rows(db)
        #expect(Set(stored.map(\.request)) == Set(expected.keys))
        #expect(stored.count == expected.count)
        #expect(consumer.metrics.current.skipped == skipped)
    }

    @Test("a batch committed twice (a second owner of the partitions) stores its records once")
    func doubleCommitIsFenced() async throws {
        _ = try await PredictionLogStack.shared.get()
        let db = try await PredictionLogStack.shared.freshDatabase()
        let pool = PostgresPool(config: try PostgresConfig(url: db), size: 2, logger: logger)
        let store = PredictionLogStore(pool: pool, group: "g", logger: logger)
        try await store.migrate()
        var batch = PredictionBatch(topic: "predictions")
        for i in 0..<10 {
            let record = PredictionRecord(requestID: "r\(i)", model: "m", version: "v", entity: "e", features: [1], output: [0], missing: [], timeMillis: 1)
            batch.add(value: record.json(), partition: Int32(i % 2), offset: Int64(i / 2), model: nil)
        }
        batch.add(value: Array("oops".utf8), partition: 0, offset: 5, model: nil)
        var overlapping = PredictionBatch(topic: "predictions")  // starts inside the first batch
        for i in 8..<14 {
            let record = PredictionRecord(requestID: "r\(i)", model: "m", version: "v", entity: "e", features: [1], output: [0], missing: [], timeMillis: 1)
            overlapping.add(value: record.json(), partition: Int32(i % 2), offset: Int64(i / 2), model: nil)
        }
        let once = try await store.commit(batch)
        let twice = try await store.commit(batch)
        let overlap = try await store.commit(overlapping)
        #expect(once.rows == 10 && once.rejects.count == 1 && once.alreadyStored == 0)
        #expect(twice.rows == 0 && twice.rejects.isEmpty && twice.alreadyStored == 11)
        // p0 holds offsets < 6 and p1 < 5: offsets 4, 5 of p0 and 4 of p1 are dropped.
        #expect(overlap.rows == 3 && overlap.alreadyStored == 3)
        #expect(Set(try await rows(db).map(\.request)) == Set((0..<10).map { "r\($0)" } + ["r11", "r12", "r13"]))
        #expect(try await store.committedOffsets(topic: "predictions") == [0: 7, 1: 7])
        await pool.close()
    }
}
