import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanFeatureWorker
import CapstanKafka
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-feature-worker`: the streaming feature worker, one Deployment per FeatureView (or
/// per group of dependent views). Configuration comes from flags or the environment; URLs may
/// carry credentials and are never logged.
@main
struct FeatureWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-feature-worker",
        abstract: "Consume events, compute features, write them to Redis (online) and PostgreSQL (offline).")

    @Option(name: .customLong("views"), help: "FeatureView YAML files or directories (env CAPSTAN_VIEWS, comma-separated).")
    var views: [String] = []

    @Option(help: "Kafka bootstrap servers (env KAFKA_BROKERS).")
    var brokers: String?

    @Option(help: "Consumer group; offsets and window state are kept per group.")
    var group: String = ProcessInfo.processInfo.environment["CAPSTAN_GROUP"] ?? "capstan-feature-worker"

    @Option(name: .customLong("redis-url"), help: "redis://[user:password@]host:port[/db] (env CAPSTAN_REDIS_URL).")
    var redisURL: String?

    @Option(name: .customLong("postgres-url"), help: "postgres://user[:password]@host:port/db (env CAPSTAN_POSTGRES_URL).")
    var postgresURL: String?

    @Option(help: "Extra librdkafka properties, key=value (repeatable).")
    var kafkaProperty: [String] = []

    @Option(help: "librdkafka properties for the consumer only, key=value (repeatable).")
    var consumerProperty: [String] = []

    @Option(help: "Messages per batch.")
    var batchSize: Int = 10_000

    @Option(help: "Concurrent parts each batch's computation is split into, by partition.")
    var computeShards: Int = 2

    @Option(help: "Milliseconds a poll keeps filling a batch after its first message.")
    var pollFillMs: Int = 20

    @Option(help: "Seconds between window-state snapshots per partition.")
    var snapshotSeconds: Int = 60

    @Flag(inversion: .prefixedNo, help: "Create the dead-letter topics at start-up (needs topic-create permission).")
    var createDeadLetterTopics = true

    @Option(help: "Address for /metrics, /healthz and /readyz.")
    var metricsHost: String = "0.0.0.0"

    @Option(help: "Port for /metrics, /healthz and /readyz.")
    var metricsPort: Int = 9090

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["CAPSTAN_LOG_LEVEL"] ?? "info"

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "capstan.feature-worker")
        let viewPaths = views.isEmpty ? (env["CAPSTAN_VIEWS"]?.split(separator: ",").map(String.init) ?? ["/etc/capstan/views"]) : views
        guard let brokers = brokers ?? env["KAFKA_BROKERS"] else { throw ValidationError("set --brokers or KAFKA_BROKERS") }
        guard let redis = redisURL ?? env["CAPSTAN_REDIS_URL"] else { throw ValidationError("set --redis-url or CAPSTAN_REDIS_URL") }
        guard let postgres = postgresURL ?? env["CAPSTAN_POSTGRES_URL"] else { throw ValidationError("set --postgres-url or CAPSTAN_POSTGRES_URL") }
        func parse(_ items: [String], _ flag: String) throws -> [String: String] {
            var properties: [String: String] = [:]
            for item in items {
                guard let eq = item.firstIndex(of: "=") else { throw ValidationError("\(flag) needs key=value, got \(item)") }
                properties[String(item[..<eq])] = String(item[item.index(after: eq)...])
            }
            return properties
        }
        let properties = try parse(kafkaProperty, "--kafka-property")
        var config = WorkerConfiguration(
            views: try FeatureViewLoader.load(paths: viewPaths), kafka: KafkaConfig(bootstrapServers: brokers, properties: properties),
            groupID: group, redisURL: redis, postgresURL: postgres)
        config.batchSize = batchSize
        config.snapshotInterval = .seconds(snapshotSeconds)
        config.computeShards = max(1, computeShards)
        config.pollFill = .milliseconds(max(0, pollFillMs))
        config.createDeadLetterTopics = createDeadLetterTopics
        config.consumerProperties.merge(try parse(consumerProperty, "--consumer-property")) { $1 }
        _ = try FeatureWorker.compilePlans(config)  // fail fast with the spec error

        let registry = Telemetry.bootstrap()
        let worker = FeatureWorker(configuration: config, logger: logger)
        let ops = OpsServer.application(host: metricsHost, port: metricsPort, registry: registry, readiness: worker.readiness, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: ops),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
