import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanGenerator
import CapstanKafka
import Foundation
import Logging

/// Sustained end-to-end ingest (Kafka → features → Redis + PostgreSQL) with the three example
/// views, against the raw librdkafka consume rate of the same topic as the ceiling.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "End-to-end streaming ingest throughput.")

    // librdkafka's mock cluster keeps only a few MB per partition (older segments are dropped),
    // so a preloaded topic needs enough partitions to hold every event until it is read.
    @Option(help: "Events to pre-load into the topic.")
    var events: Int = 500_000

    @Option(help: "Distinct users.")
    var users: Int = 10_000

    @Option(help: "Topic partitions.")
    var partitions: Int = 32

    @Option(help: "Worker batch size.")
    var batchSize: Int = 50_000

    @Option(help: "FeatureView manifests.")
    var views: [String] = ["examples/featureviews.yaml"]

    @Option(name: .customLong("consumer-property"), help: "Extra librdkafka consumer property for the worker (key=value), repeatable.")
    var consumerProperty: [String] = []

    @Option(help: "Concurrent compute parts per batch.")
    var computeShards: Int?

    @Option(help: "Batches being written while the next one is computed.")
    var maxInFlight: Int?

    @Option(help: "Milliseconds a poll keeps filling a batch after its first message.")
    var pollFillMs: Int?

    @Option(help: "Working directory for the embedded servers.")
    var directory: String = ".capstan/bench-ingest"

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.bench")
        let loaded = try FeatureViewLoader.load(paths: views)
        let topic = "bench-events"
        let retargeted = loaded.map { view -> FeatureView in
            var v = view
            v.spec.source.kafka?.topic = topic
            v.spec.source.kafka?.deadLetterTopic = "\(topic).dlq"
            return v
        }
        try? FileManager.default.removeItem(atPath: directory)
        let stack = try await EmbeddedStack.start(directory: directory, logger: logger)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await stack.whileRunning { try await measure(stack: stack, views: retargeted, topic: topic, logger: logger) }
    }

    func measure(stack: EmbeddedStack, views retargeted: [FeatureView], topic: String, logger: Logger) async throws {
        try await stack.createTopics(topic, partitions: partitions)
        Console.line("ingest benchmark: \(events) events, \(users) users, \(partitions) partitions, views: \(retargeted.map(\.name).joined(separator: ", "))")

        let generator = EventGenerator(kafka: stack.kafkaConfig, topic: topic, producers: 2, rate: 0, users: FakeUsers(users: users, badEventRate: 0))
        let loadReport = try await generator.run(count: events, duration: nil, logger: logger)
        guard loadReport.failed == 0 else { throw ValidationError("\(loadReport.failed) events failed to load") }
        Console.line("loaded \(loadReport.delivered) events in \(String(format: "%.1f", loadReport.seconds)) s")

        let ceiling = try await rawConsumeRate(stack: stack, topic: topic, expected: loadReport.delivered, logger: logger)
        Console.line("ceiling: raw librdkafka consume \(Int(ceiling)) events/s")

        var config = WorkerConfiguration(views: retargeted, kafka: stack.kafkaConfig, groupID: "bench-ingest", redisURL: stack.redis.url, postgresURL: stack.postgres.url)

        config.createDeadLetterTopics = false  // the stack created them
        config.consumerProperties.merge(stack.consumerProperties) { $1 }
        config.batchSize = batchSize
        for pair in consumerProperty {
            guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--consumer-property wants key=value, got '\(pair)'") }
            config.consumerProperties[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        if let computeShards { config.computeShards = computeShards }
        if let maxInFlight { config.maxInFlightBatches = maxInFlight }
        if let pollFillMs { config.pollFill = .milliseconds(pollFillMs) }
        config.snapshotInterval = .seconds(3600)
        let worker = FeatureWorker(configuration: config, logger: logger)
        let started = ContinuousClock.now
        let task = Task { try await worker.run() }
        while worker.metrics.stageTimes.events < loadReport.delivered {
            try await Task.sleep(for: .milliseconds(20))
        }
        worker.requestStop()
        try await task.value
        let elapsed = (ContinuousClock.now - started).inSeconds
        let stats = worker.metrics.stageTimes
        let sustainedSeconds = stats.firstMessagesAt.flatMap { first in stats.lastDurableAt.map { ($0 - first).inSeconds } } ?? elapsed
        let rate = Double(stats.events) / sustainedSeconds
        let busy = stats.poll + stats.compute + stats.redis + stats.postgres + stats.restore
        func share(_ x: Double) -> String { String(format: "%.0f%%", busy > 0 ? 100 * x / busy : 0) }
        Console.line("end to end: \(stats.events) events in \(String(format: "%.2f", elapsed)) s including start-up and the consumer-group join = \(Int(Double(stats.events) / elapsed)) events/s")
        Console.line("sustained (first batch polled → last batch durable): \(String(format: "%.2f", sustainedSeconds)) s = \(Int(rate)) events/s (\(stats.featureRows) feature rows, \(stats.batches) batches of up to \(batchSize))")
        Console.line("stage time (s): poll \(f(stats.poll)), compute \(f(stats.compute)), redis \(f(stats.redis)), postgres \(f(stats.postgres)), restore \(f(stats.restore))")
        Console.line("stage share: poll \(share(stats.poll)), compute \(share(stats.compute)), redis \(share(stats.redis)), postgres \(share(stats.postgres)) (redis overlaps compute; postgres commits are serial)")
        Console.line(String(format: "ratio to ceiling: %.2f", rate / ceiling))
        Console.line("RESULT ingest events_per_s=\(Int(rate)) ceiling_per_s=\(Int(ceiling))")
    }

    func f(_ x: Double) -> String { String(format: "%.2f", x) }


    /// Consumes the whole topic with a plain consumer (no processing) and returns events/s.
    func rawConsumeRate(stack: EmbeddedStack, topic: String, expected: Int, logger: Logger) async throws -> Double {
        let consumer = try KafkaConsumer(config: stack.kafkaConfig, groupID: "bench-ceiling", topics: [topic], logger: logger)
        var count = 0
        var started: ContinuousClock.Instant?
        while count < expected {
            let result = try await consumer.poll(maxMessages: batchSize, timeout: .milliseconds(100))
            try await consumer.completeRebalance(result.rebalance, startingAt: 0)
            if started == nil, !result.messages.isEmpty { started = .now }
            count += result.messages.count
        }
        let elapsed = (ContinuousClock.now - (started ?? .now)).inSeconds
        await consumer.close()
        return Double(count) / max(elapsed, 1e-6)
    }
}
