import ArgumentParser
import CapstanAPI
import CapstanCommandLine
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

    @OptionGroup var viewOptions: FeatureViewOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var log: LogOptions

    @Option(help: "Consumer group; offsets and window state are kept per group.")
    var group: String = ProcessInfo.processInfo.environment["CAPSTAN_GROUP"] ?? "capstan-feature-worker"

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

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.feature-worker")
        let brokers = try kafka.requiredBrokers()
        let redisURL = try redis.requiredURL()
        let postgresURL = try postgres.requiredURL()
        let properties = try kafka.properties()
        var config = WorkerConfiguration(
            views: try FeatureViewLoader.load(paths: viewOptions.paths()), kafka: KafkaConfig(bootstrapServers: brokers, properties: properties),
            groupID: group, redisURL: redisURL, postgresURL: postgresURL)
        config.batchSize = batchSize
        config.snapshotInterval = .seconds(snapshotSeconds)
        config.computeShards = max(1, computeShards)
        config.pollFill = .milliseconds(max(0, pollFillMs))
        config.createDeadLetterTopics = createDeadLetterTopics
        config.consumerProperties.merge(try KeyValueList.parse(consumerProperty, flag: "--consumer-property")) { $1 }
        _ = try FeatureWorker.compilePlans(config)  // fail fast with the spec error

        let registry = Telemetry.bootstrap()
        let worker = FeatureWorker(configuration: config, logger: logger)
        let opsServer = OpsServer.application(host: ops.metricsHost, port: ops.metricsPort, registry: registry, readiness: worker.readiness, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: opsServer),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
