import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanGateway
import CapstanKafka
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-serving gateway`: the serving gateway role (docs/gateway.md). Hydrates features from
/// Redis, routes by the traffic table to the versions' model servers, logs predictions to Kafka.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve predictions: features from Redis, traffic split across model versions, predictions logged to Kafka.")

    @Option(help: "Gateway configuration (YAML), e.g. examples/churn/gateway.yaml.")
    var config: String

    @OptionGroup var redis: RedisOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var listen: ListenOptions

    @Option(help: "gRPC port (capstan.gateway.v1.Gateway); 0 turns gRPC off.")
    var grpcPort: Int = 8081

    @OptionGroup var log: LogOptions

    func validate() throws { try Port.check(grpcPort, flag: "--grpc-port") }

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.gateway")
        let kafkaBrokers = kafka.resolvedBrokers()
        let configuration = try GatewayConfiguration.load(path: config)
        let registry = Telemetry.bootstrap()
        let service = try GatewayService(
            configuration: configuration,
            // The flag wins over the configuration's `redis`, which wins over the environment
            // (where the operator puts the URL: it may hold a password).
            redisURL: redis.redisURL ?? configuration.redisURL ?? redis.resolvedURL(),
            kafka: try kafkaBrokers.map { KafkaConfig(bootstrapServers: $0, properties: try kafka.properties()) },
            host: listen.host, httpPort: listen.httpPort, grpcPort: grpcPort == 0 ? nil : grpcPort, registry: registry, logger: logger)
        if kafkaBrokers == nil {
            logger.warning("no Kafka brokers (--kafka-brokers or KAFKA_BROKERS): predictions are not logged")
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
