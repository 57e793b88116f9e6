import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanGenerator
import CapstanKafka
import CapstanPostgres
import CapstanRedis
import CapstanStore
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan demo`: the main job on the embedded default. Starts redis-server, a private
/// PostgreSQL and the Kafka mock cluster (or uses KAFKA_BROKERS), loads the example
/// FeatureViews, runs the generator and the feature worker for a bounded time, and prints what
/// happened.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the streaming feature pipeline end to end on this machine, no Docker needed.")

    @Option(help: "FeatureView manifests to load.")
    var views: [String] = ["examples/featureviews.yaml"]

    @Option(help: "Seconds to generate events for.")
    var seconds: Double = 15

    @Option(help: "Target events per second.")
    var rate: Double = 20_000

    @Option(help: "Distinct users.")
    var users: Int = 5_000

    @Option(help: "Partitions of the raw-events topic.")
    var partitions: Int = 4

    @Option(help: "Share of deliberately invalid events.")
    var badRate: Double = 0.002

    @Option(help: "Working directory for the embedded servers' data (deleted at the end unless --keep).")
    var directory: String = ".capstan/demo"

    @Flag(help: "Keep the servers' data directory.")
    var keep = false

    @Option(help: "The distribution shift the generator applies halfway through (0 = none, no drift act).")
    var shift: Double = 1

    @Option(help: "Where the drift act writes its HTML report (kept after the demo).")
    var driftReportDirectory: String = ".capstan/drift-reports"

    @Option(help: "Port for the worker's /metrics, /healthz, /readyz (0 = a free port).")
    var metricsPort: Int = 0

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.demo")
        let loaded = try FeatureViewLoader.load(paths: views)
        guard let topic = loaded.first?.spec.source.kafka?.topic else { throw ValidationError("no FeatureView with a Kafka source in \(views)") }
        try? FileManager.default.removeItem(atPath: directory)
        let stack = try await EmbeddedStack.start(directory: directory, logger: logger)
        defer { if !keep { try? FileManager.default.removeItem(atPath: directory) } }
        try await stack.whileRunning { try await demo(stack: stack, loaded: loaded, topic: topic, logger: logger) }
        try await OperatorDemo.run(directory: "\(directory)-operator", hold: false)
    }

    func demo(stack: EmbeddedStack, loaded: [FeatureView], topic: String, logger: Logger) async throws {
        Console.line("Capstan demo: embedded redis-server on 127.0.0.1:\(stack.redis.port), PostgreSQL on 127.0.0.1:\(stack.postgres.port), Kafka \(stack.mockKafka == nil ? "at \(stack.brokers)" : "mock cluster at \(stack.brokers)")")
        Console.line("feature views: \(loaded.map(\.name).joined(separator: ", "))")
        try await stack.createTopics(topic, partitions: partitions)

        var config = WorkerConfiguration(views: loaded, kafka: stack.kafkaConfig, groupID: "capstan-demo", redisURL: stack.redis.url, postgresURL: stack.postgres.url)

        config.createDeadLetterTopics = false  // the stack created them
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        config.batchSize = 5_000
        let registry = Telemetry.bootstrap()
        let worker = FeatureWorker(configuration: config, logger: logger)
        let port = metricsPort == 0 ? try Loopback.freePort() : metricsPort
        let ops = OpsServer.application(host: "127.0.0.1", port: port, registry: registry, readiness: worker.readiness, logger: logger)
        let services = ServiceGroup(configuration: .init(services: [.init(service: ops)], logger: logger))
        let opsTask = Task { try await services.run() }
        let workerTask = Task { try await worker.run() }

        let shiftAfter = Duration.milliseconds(Int64(seconds * 500))
        let generator = EventGenerator(
            kafka: stack.kafkaConfig, topic: topic, producers: 2, rate: rate, users: FakeUsers(users: users, badEventRate: badRate),
            shiftAfter: shift > 0 ? shiftAfter : nil, shift: shift)
        let started = ContinuousClock.now
        let startedAt = Date()
        let report = try await generator.run(count: nil, duration: .milliseconds(Int64(seconds * 1000)), logger: logger)
        let times = GeneratorTimes(start: startedAt, shift: startedAt.addingTimeInterval(shiftAfter.inSeconds), end: Date())
        Console.line("generated \(report.sent) events in \(String(format: "%.1f", report.seconds)) s (\(Int(report.eventsPerSecond)) events/s, \(report.failed) failed deliveries)")

        // Wait until the worker has consumed everything, then stop it (which drains and commits).
        let deadline = ContinuousClock.now + .seconds(120)
        while worker.metrics.stageTimes.events < report.delivered, ContinuousClock.now < deadline {
            if workerTask.isCancelled { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        worker.requestStop()
        try await workerTask.value
        let elapsed = (ContinuousClock.now - started)
        let stats = worker.metrics.stageTimes
        let secondsElapsed = elapsed.inSeconds
        Console.line("worker: \(stats.events) events in \(stats.batches) batches, end to end \(Int(Double(stats.events) / secondsElapsed)) events/s; busy time: compute \(fmt(stats.compute)) s, redis \(fmt(stats.redis)) s, postgres \(fmt(stats.postgres)) s")
        Console.line("metrics were served at http://127.0.0.1:\(port)/metrics")

        try await printOnline(stack: stack, views: loaded, logger: logger)
        try await printOffline(stack: stack, logger: logger)
        try await printTrainingSet(stack: stack, logger: logger)
        let dlqTopic = loaded.first?.spec.source.kafka.map { $0.deadLetterTopic ?? "\($0.topic).dlq" } ?? "\(topic).dlq"
        try await printDeadLetters(stack: stack, topic: dlqTopic, counted: stats.deadLettered, logger: logger)
        if shift > 0, loaded.contains(where: { $0.name == "user_activity" }) { try await driftAct(stack: stack, times: times, logger: logger) }
        let retrained = try await batchAct(stack: stack, times: times, logger: logger)
        try await serveChurnModel(stack: stack, retrained: retrained, logger: logger)
        await services.triggerGracefulShutdown()
        try? await opsTask.value
    }

    func fmt(_ x: Double) -> String { String(format: "%.2f", x) }

    func printOnline(stack: EmbeddedStack, views: [FeatureView], logger: Logger) async throws {
        let connection = try await RedisConnection.connect(try RedisConfig(url: stack.redis.url), logger: logger)
        defer { Task { await connection.close() } }
        let user = "u42"
        Console.line("online features of user \(user) (Redis hashes cap:{view}:\(user)):")
        for view in views {
            let key = OnlineLayout.key(view: view.name, entity: user)
            let reply = try await connection.command(["HGETALL", key])
            guard case .array(let items) = reply, !items.isEmpty else {
                Console.line("  \(view.name): (none)")
                continue
            }
            var fields: [(String, String)] = []
            var i = 0
            while i + 1 < items.count {
                if case .bulk(let k) = items[i], case .bulk(let v) = items[i + 1] {
                    fields.append((String(decoding: k, as: UTF8.self), String(decoding: v, as: UTF8.self)))
                }
                i += 2
            }
            let order = ["_ts"] + view.spec.features.map(\.name)
            let shown = order.compactMap { name in fields.first { $0.0 == name }.map { name == "_ts" ? "event_time=\(EpochMillisText.format($0.1))" : "\(name)=\($0.1)" } }
            Console.line("  \(view.name): \(shown.joined(separator: " "))")
        }
    }

    func printOffline(stack: EmbeddedStack, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(try PostgresConfig(url: stack.postgres.url), logger: logger)
        defer { Task { await connection.close() } }
        let rows = try await connection.query("SELECT view, count(*), count(DISTINCT entity) FROM capstan_feature_rows GROUP BY view ORDER BY view")
        Console.line("offline rows (PostgreSQL capstan_feature_rows):")
        for row in rows {
            Console.line("  \(row.string(at: 0) ?? "?"): \(try row.int64(at: 1) ?? 0) rows, \(try row.int64(at: 2) ?? 0) entities")
        }
        let raw = try await connection.query("SELECT coalesce(sum(event_count), 0) FROM capstan_raw_segments")
        Console.line("raw event log: \(try raw.first?.int64(at: 0) ?? 0) events")
    }

    func printDeadLetters(stack: EmbeddedStack, topic: String, counted: Int, logger: Logger) async throws {
        var config = stack.kafkaConfig
        config.properties.merge(stack.consumerProperties) { $1 }
        let consumer = try KafkaConsumer(config: config, groupID: "capstan-demo-dlq-reader", topics: [topic], logger: logger)
        var count = 0
        var reasons: [String: Int] = [:]
        var idleSince = ContinuousClock.now
        var assigned = false
        let deadline = ContinuousClock.now + .seconds(60)
        // Joining the group takes a few seconds; after that, stop once nothing arrives for 2 s.
        while ContinuousClock.now < deadline, !assigned || ContinuousClock.now - idleSince < .seconds(2) {
            let result = try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200))
            if try await consumer.completeRebalance(result.rebalance, startingAt: 0) {
                assigned = true
                idleSince = ContinuousClock.now
            }
            if !result.messages.isEmpty { idleSince = ContinuousClock.now }
            for message in result.messages {
                count += 1
                if let reason = message.headers.first(where: { $0.0 == "capstan.reason" }) {
                    let text = String(decoding: reason.1, as: UTF8.self)
                    // The reason names every view that rejected the event ("view a: ...; view b: ...")
                    // and values; group by the first view's reason without byte positions or values.
                    let first = (text.components(separatedBy: "; view ").first ?? text).components(separatedBy: #": ""#).first ?? text
                    let kind = first.replacingOccurrences(of: #" at byte \d+"#, with: "", options: .regularExpression)
                    reasons[kind, default: 0] += 1
                }
            }
        }
        await consumer.close()
        Console.line("dead letters: \(count) in topic \(topic) (worker counted \(counted)); reasons:")
        for (reason, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(5) { Console.line("  \(n) × \(reason)") }
    }
}

enum EpochMillisText {
    static func format(_ text: String) -> String {
        guard let ms = Int64(text) else { return text }
        return EpochMillis.format(ms)
    }
}
