import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanFeatures
import CapstanGenerator
import CapstanKafka
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging
import Testing

@Suite("Streaming pipeline: Kafka mock cluster → worker → Redis + PostgreSQL", .serialized, .timeLimit(.minutes(6)))
struct PipelineTests {
    let logger = Logger(label: "test")

    func produce(_ stack: EmbeddedStack, topic: String, count: Int, users: Int, badRate: Double = 0, seed: UInt64 = 1) async throws -> Int {
        let generator = EventGenerator(kafka: stack.kafkaConfig, topic: topic, producers: 2, rate: 0,
                                       users: FakeUsers(users: users, badEventRate: badRate, lateEventRate: 0.2, maxDelayMillis: 120_000), seed: seed)
        let report = try await generator.run(count: count, duration: nil, logger: logger)
        #expect(report.failed == 0)
        return report.delivered
    }

    @Test("online values equal the offline latest per entity, and offline equals an uninterrupted computation")
    func onlineMatchesOffline() async throws {
        let stack = try await TestStack.shared.get()
        let topic = "t-online-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopics(topic, partitions: 3)
        let views = try Pipeline.views(topic: topic, prefix: "on\(UInt16.random(in: 0...UInt16.max))")
        let produced = try await produce(stack, topic: topic, count: 6000, users: 150)
        let db = try await TestStack.shared.freshDatabase()
        var config = WorkerConfiguration(views: views, kafka: stack.kafkaConfig, groupID: "g-\(topic)", redisURL: stack.redis.url, postgresURL: db)
        config.createDeadLetterTopics = false  // the stack created them
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        config.batchSize = 700
        let stats = try await Pipeline.runWorker(config, until: produced)
        #expect(stats.events == produced)

        let messages = try await Pipeline.readAll(stack, topic: topic, expected: produced)
        let expected = try Pipeline.reference(views, messages: messages)
        let stored = try await Pipeline.offlineRows(databaseURL: db, logger: logger)
        #expect(stored.count == expected.count)
        #expect(Set(stored) == Set(expected))

        // Online: per (view, entity) the row with the greatest event time (ties: the later offset).
        var latest: [String: Pipeline.Row] = [:]
        for row in stored {
            let key = "\(row.view)/\(row.entity)"
            if let current = latest[key], (current.eventTime, current.offset) > (row.eventTime, row.offset) { continue }
            latest[key] = row
        }
        let redis = try await RedisConnection.connect(try RedisConfig(url: stack.redis.url), logger: logger)
        let plan = try PlanCompiler.compile(views)
        var checked = 0
        for (_, row) in latest {
            let view = plan.views[plan.viewIndex(named: row.view)!]
            let names = view.numericFeatures.map { view.features[$0].name } + view.stringFeatures.map { view.features[$0].name }
            let reply = try await redis.command(["HMGET", OnlineLayout.key(view: row.view, entity: row.entity), "_ts"] + names)
            guard case .array(let items) = reply else { Issue.record("no hash for \(row)"); continue }
            let texts = items.map { item -> String in
                if case .bulk(let b) = item { return String(decoding: b, as: UTF8.self) }
                return "null"
            }
            #expect(texts[0] == String(row.eventTime))
            let online = zip(texts.dropFirst(), view.numericFeatures.map { _ in true } + view.stringFeatures.map { _ in false }).map { text, numeric in
                numeric && text != "null" ? String(format: "%.9g", Double(text)!) : text
            }
            #expect(online == row.values, "online differs from offline latest for \(row.view)/\(row.entity)")
            checked += 1
        }
        #expect(checked == latest.count && checked > 300)
        await redis.close()
    }

    @Test("bad events land in the dead-letter topic with their reasons and the original payload")
    func deadLetters() async throws {
        let stack = try await TestStack.shared.get()
        let topic = "t-dlq-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopics(topic, partitions: 2)
        let views = try Pipeline.views(topic: topic, prefix: "dl\(UInt16.random(in: 0...UInt16.max))")
        let producer = try KafkaProducer(config: stack.kafkaConfig, logger: logger)
        let good = #"{"user_id":"u1","action":"purchase","amount":12.5,"timestamp":"2026-11-21T10:00:00Z"}"#
        let bad: [(String, String)] = [
            (#"{"user_id":"u1","action":"click""#, "malformed JSON"),
            (#"{"action":"click","timestamp":"2026-11-21T10:00:00Z"}"#, "missing required field 'user_id'"),
            (#"{"user_id":"u1","action":"purchase","amount":"12","timestamp":"2026-11-21T10:00:01Z"}"#, "field 'amount' must be a number, got string"),
            (#"{"user_id":"u1","action":"click","timestamp":"soon"}"#, "not an RFC 3339 timestamp"),
            (#"{"user_id":"u1","action":"click","timestamp":"2026-11-21T07:00:00Z"}"#, "allowedLateness"),
        ]
        try await producer.send(topic: topic, key: Array("u1".utf8), value: Array(good.utf8))
        for (payload, _) in bad { try await producer.send(topic: topic, key: Array("u1".utf8), value: Array(payload.utf8)) }
        await producer.close()

        let db = try await TestStack.shared.freshDatabase()
        var config = WorkerConfiguration(views: views, kafka: stack.kafkaConfig, groupID: "g-\(topic)", redisURL: stack.redis.url, postgresURL: db)
        config.createDeadLetterTopics = false  // the stack created them
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        let stats = try await Pipeline.runWorker(config, until: 1 + bad.count)
        #expect(stats.deadLettered == bad.count)

        let letters = try await Pipeline.readAll(stack, topic: "\(topic).dlq", expected: bad.count)
        #expect(letters.count == bad.count)
        for (payload, reason) in bad {
            let letter = letters.first { $0.value == Array(payload.utf8) }
            let header = letter?.headers.first { $0.0 == "capstan.reason" }.map { String(decoding: $0.1, as: UTF8.self) }
            #expect(header?.contains(reason) == true, "reason for \(payload): \(header ?? "none")")
            #expect(letter?.headers.contains { $0.0 == "capstan.source" } == true)
        }
        let rows = try await Pipeline.offlineRows(databaseURL: db, logger: logger)
        #expect(Set(rows.map(\.offset)) == [0])  // only the good event produced rows
        #expect(rows.count == 3)
    }

    @Test("a worker process killed mid-stream and restarted loses and duplicates nothing, and its aggregates match an uninterrupted run")
    func killAndRestart() async throws {
        let stack = try await TestStack.shared.get()
        let topic = "t-kill-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopics(topic, partitions: 3)
        let prefix = "kl\(UInt16.random(in: 0...UInt16.max))"
        let views = try Pipeline.views(topic: topic, prefix: prefix)
        let produced = try await produce(stack, topic: topic, count: 40_000, users: 300, badRate: 0.01, seed: 9)
        let db = try await TestStack.shared.freshDatabase()
        let dir = NSTemporaryDirectory() + "capstan-kill-\(prefix)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ChildProcess.removeAtExit(dir)
        let viewsFile = dir + "/views.yaml"
        try Self.encodeViews(views).write(toFile: viewsFile, atomically: true, encoding: .utf8)
        let group = "g-\(topic)"

        func startWorker(_ n: Int) async throws -> ChildProcess {
            let child = ChildProcess(
                name: "worker-\(n)", executable: try Self.workerExecutable(),
                arguments: ["--views", viewsFile, "--brokers", stack.brokers, "--group", group, "--redis-url", stack.redis.url,
                            "--postgres-url", db, "--batch-size", "400", "--snapshot-seconds", "1", "--metrics-host", "127.0.0.1",
                            "--metrics-port", String(try Loopback.freePort()), "--log-level", "warning", "--no-create-dead-letter-topics",
                            "--consumer-property", "session.timeout.ms=6000", "--consumer-property", "heartbeat.interval.ms=500"],
                logPath: dir + "/worker-\(n).log")
            try await child.start()
            return child
        }
        let postgres = try await PostgresConnection.connect(try PostgresConfig(url: db), logger: logger)
        func committed() async throws -> Int64 {
            let r = try? await postgres.query("SELECT coalesce(sum(next_offset), 0) FROM capstan_consumer_offsets WHERE group_id = $1", [.text(group)])
            return (try? r?.first?.int64(at: 0)) ?? 0
        }
        // Kill twice at different points, mid-stream, with SIGKILL (no chance to clean up).
        for (n, fraction) in [0.25, 0.6].enumerated() {
            let worker = try await startWorker(n)
            let deadline = ContinuousClock.now + .seconds(90)
            while try await committed() < Int64(Double(produced) * fraction), ContinuousClock.now < deadline {
                #expect(worker.isRunning, "worker exited early: \(worker.logTail())")
                try await Task.sleep(for: .milliseconds(20))
            }
            worker.stop(signal: SIGKILL)
        }
        let final = try await startWorker(9)
        let deadline = ContinuousClock.now + .seconds(120)
        while try await committed() < Int64(produced), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        final.stop(signal: SIGTERM, timeout: .seconds(30))
        #expect(try await committed() == Int64(produced), "worker log: \(final.logTail())")
        await postgres.close()

        let messages = try await Pipeline.readAll(stack, topic: topic, expected: produced)
        let expected = try Pipeline.reference(views, messages: messages)
        let stored = try await Pipeline.offlineRows(databaseURL: db, logger: logger)
        #expect(stored.count == expected.count, "no duplicates and no losses")
        let missing = Set(expected).subtracting(stored)
        let extra = Set(stored).subtracting(expected)
        #expect(missing.isEmpty && extra.isEmpty, "missing \(missing.prefix(3)); unexpected \(extra.prefix(3))")
    }

    @Test("partitions handed over between two workers in one group lose and duplicate nothing")
    func rebalance() async throws {
        let stack = try await TestStack.shared.get()
        let topic = "t-rebal-\(UInt16.random(in: 0...UInt16.max))"
        try await stack.createTopics(topic, partitions: 4)
        let views = try Pipeline.views(topic: topic, prefix: "rb\(UInt16.random(in: 0...UInt16.max))")
        let db = try await TestStack.shared.freshDatabase()
        var config = WorkerConfiguration(views: views, kafka: stack.kafkaConfig, groupID: "g-\(topic)", redisURL: stack.redis.url, postgresURL: db)
        config.createDeadLetterTopics = false  // the stack created them
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        config.batchSize = 300
        config.snapshotInterval = .milliseconds(500)
        let first = FeatureWorker(configuration: config, logger: logger)
        let second = FeatureWorker(configuration: config, logger: logger)
        let firstTask = Task { try await first.run() }
        let producedA = try await produce(stack, topic: topic, count: 8000, users: 200, seed: 3)
        try await Task.sleep(for: .milliseconds(300))
        let secondTask = Task { try await second.run() }  // joins: partitions are split
        let producedB = try await produce(stack, topic: topic, count: 8000, users: 200, seed: 4)
        let total = producedA + producedB
        let deadline = ContinuousClock.now + .seconds(120)
        while first.metrics.stageTimes.events + second.metrics.stageTimes.events < total, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        first.requestStop()  // leaves: its partitions go to the second worker
        try await Pipeline.value(of: firstTask, within: .seconds(60), "the first worker's stop (it was \(first.activity))")
        let producedC = try await produce(stack, topic: topic, count: 4000, users: 200, seed: 5)
        let messages = try await Pipeline.readAll(stack, topic: topic, expected: total + producedC)
        let expected = try Pipeline.reference(views, messages: messages)
        let deadline2 = ContinuousClock.now + .seconds(120)
        var stored: [Pipeline.Row] = []
        while ContinuousClock.now < deadline2 {
            stored = try await Pipeline.offlineRows(databaseURL: db, logger: logger)
            if stored.count >= expected.count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        second.requestStop()
        try await Pipeline.value(of: secondTask, within: .seconds(60), "the second worker's stop (it was \(second.activity))")
        stored = try await Pipeline.offlineRows(databaseURL: db, logger: logger)
        #expect(stored.count == expected.count)
        #expect(Set(stored) == Set(expected))
    }

    static func workerExecutable() throws -> String {
        guard let path = LocalTools.builtExecutable("capstan-feature-worker") else {
            throw CapstanError(.notFound, "capstan-feature-worker is not built next to the tests; run `swift build` first (make test does)")
        }
        return path
    }

    static func encodeViews(_ views: [FeatureView]) throws -> String {
        let encoder = JSONEncoder()
        return try views.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n---\n")
    }
}
