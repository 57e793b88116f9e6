import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanFeatureWorker
import CapstanIngest
import CapstanOfflineHTTP
import CapstanPostgres
import CapstanRedis
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-ingest`: the batch ingestion gateway (REST and gRPC uploads of CSV/JSONL files into
/// FeatureViews) and the offline API (`/v1/training-sets`, `/v1/backfills`, `/v1/lineage`). URLs may carry credentials and the token is a secret: neither is logged.
@main
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-ingest",
        abstract: "Accept CSV/JSONL uploads (REST and gRPC), compute features like the stream, store them offline and online.")

    @OptionGroup var viewOptions: FeatureViewOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var listen: ListenOptions

    @Option(help: "gRPC port (capstan.ingest.v1.IngestService); 0 = off.")
    var grpcPort: Int = 8081

    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var log: LogOptions

    @Option(help: "Largest upload in bytes as received.")
    var maxUploadBytes: Int64 = 16 << 30

    @Option(help: "Parallel transform workers (default: the processor count less one).")
    var workers: Int?

    func validate() throws { try Port.check(grpcPort, flag: "--grpc-port") }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let logger = try log.bootstrap(label: "capstan.ingest")
        let registry = Telemetry.bootstrap()
        let postgresURL = try postgres.requiredURL()
        var configuration = IngestConfiguration()
        configuration.maxUploadBytes = maxUploadBytes
        configuration.maxDecompressedBytes = max(configuration.maxDecompressedBytes, maxUploadBytes)
        if let workers { configuration.workers = max(1, workers) }
        // The token comes from the environment only, so it never shows in a process listing.
        configuration.bearerToken = env["CAPSTAN_INGEST_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if configuration.bearerToken == nil { logger.warning("CAPSTAN_INGEST_TOKEN is not set: uploads are not authenticated") }

        let loaded = try FeatureViewLoader.load(paths: viewOptions.paths())
        let pgPool = PostgresPool(config: try PostgresConfig(url: postgresURL), size: 8, logger: logger)
        let redisPool = try redis.resolvedURL().map { RedisPool(config: try RedisConfig(url: $0), size: 4, logger: logger) }
        let readiness = Readiness(initiallyPending: [:])
        let ingestor = try await Ingestor.start(views: loaded, postgres: pgPool, redis: redisPool, configuration: configuration, logger: logger)
        guard !ingestor.viewNames.isEmpty else { throw ValidationError("no loaded FeatureView sets spec.source.uploads: true") }
        logger.info("capstan-ingest listening", metadata: [
            "http.port": "\(listen.httpPort)", "grpc.port": "\(grpcPort)", "ingest.views": "\(ingestor.viewNames.joined(separator: ","))",
        ])
        var services: [any Service] = [
            IngestServers.http(ingestor: ingestor, host: listen.host, port: listen.httpPort, logger: logger) { router in
                // The offline API (point-in-time training sets, backfills, lineage) shares the
                // listener and the token.
                OfflineRoutes.add(
                    to: router, pool: pgPool, redis: redisPool,
                    configuration: OfflineRoutesConfiguration(bearerToken: configuration.bearerToken), logger: logger)
            },
            OpsServer.application(host: ops.metricsHost, port: ops.metricsPort, registry: registry, readiness: readiness, logger: logger),
        ]
        if grpcPort > 0 { services.append(IngestGRPCServer.service(ingestor: ingestor, host: listen.host, port: grpcPort, logger: logger)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await pgPool.close()
        if let redisPool { await redisPool.close() }
    }
}
