import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanKafka
import CapstanPredictionLog
import CapstanTelemetry
import Logging
import ServiceLifecycle

/// `capstan-drift predictions`: the prediction log consumer, long-running (the operator runs one
/// per ModelDeployment that a DriftPolicy watches). Reads the gateway's `predictions` topic and
/// writes `capstan_predictions` exactly once per consumer group; serves /metrics, /healthz and
/// /readyz. Stopping (SIGTERM) writes the batch in hand first; a kill loses nothing either.
struct PredictionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predictions",
        abstract: "Store the gateway's prediction log (Kafka topic) in PostgreSQL (capstan_predictions), exactly once.")

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var log: LogOptions

    @Option(help: "The gateway's prediction topic.")
    var topic = "predictions"

    @Option(help: "Consumer group; stored offsets (and so exactly-once) are per group.")
    var group = "capstan-prediction-log"

    @Option(help: "Keep only this model's predictions (default: every model).")
    var model: String?

    @Option(help: "librdkafka properties for the consumer only, key=value (repeatable).")
    var consumerProperty: [String] = []

    @Option(help: "Records per batch (one PostgreSQL transaction).")
    var batchSize = 5_000

    @Option(help: "Milliseconds a record may wait in a partly filled batch.")
    var maxBatchDelayMs = 1_000

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard maxBatchDelayMs >= 0 else { throw ValidationError("--max-batch-delay-ms must not be negative, got \(maxBatchDelayMs)") }
        if let model, model.isEmpty { throw ValidationError("--model must not be empty (leave it out for every model)") }
    }

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.drift.predictions")
        var config = PredictionLogConfiguration(
            kafka: KafkaConfig(bootstrapServers: try kafka.requiredBrokers(), properties: try kafka.properties()),
            postgresURL: try postgres.requiredURL())
        config.topic = topic
        config.groupID = group
        config.model = model
        config.batchSize = batchSize
        config.maxBatchDelay = .milliseconds(maxBatchDelayMs)
        config.consumerProperties.merge(try KeyValueList.parse(consumerProperty, flag: "--consumer-property")) { $1 }
        let registry = Telemetry.bootstrap()
        let consumer = PredictionLogConsumer(configuration: config, logger: logger)
        let opsServer = OpsServer.application(host: ops.metricsHost, port: ops.metricsPort, registry: registry, readiness: consumer.readiness, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: consumer, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: opsServer),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
