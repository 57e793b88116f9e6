import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanModels
import CapstanServing
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-serving model-server`: serves one model version over the Open Inference Protocol
/// (REST and gRPC). Exits non-zero, never ready, when the model cannot be loaded.
struct ModelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-server",
        abstract: "Serve one model version over the Open Inference Protocol v2 (REST and gRPC).")

    @Option(help: "Model name in URLs and requests.")
    var modelName: String

    @Option(help: "Model version this server serves.")
    var modelVersion: String = "1"

    @Option(help: "Artifact location: file:///path, a path, http:// or https:// (env CAPSTAN_STORAGE_URI).")
    var storageUri: String?

    @Option(help: "Artifact format: xgboost (JSON) or lightgbm (text).")
    var format: String = "xgboost"

    @OptionGroup var listen: ListenOptions

    @Option(help: "gRPC port (0 = a free port; --no-grpc turns gRPC off).")
    var grpcPort: Int = 8081

    @Flag(name: .customLong("no-grpc"), help: "Serve REST only.")
    var noGRPC = false

    @Option(help: "File holding the bearer token that metadata and inference requests must carry (env CAPSTAN_AUTH_TOKEN_FILE).")
    var authTokenFile: String?

    @Option(help: "Largest accepted REST body / gRPC message, in bytes.")
    var maxBodyBytes: Int = 64 << 20

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard ModelFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", ")), got \(format)")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        try Port.check(grpcPort, flag: "--grpc-port")
    }

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.model-server")
        let env = ProcessInfo.processInfo.environment
        guard let uri = storageUri ?? env["CAPSTAN_STORAGE_URI"] else {
            throw ValidationError("set --storage-uri or CAPSTAN_STORAGE_URI")
        }
        var config = ModelServerConfiguration(
            modelName: modelName, modelVersion: modelVersion, storageURI: uri, format: ModelFormat(rawValue: format)!)
        config.host = listen.host
        config.httpPort = listen.httpPort
        config.grpcPort = noGRPC ? nil : grpcPort
        config.maxBodyBytes = maxBodyBytes
        if let path = authTokenFile ?? env["CAPSTAN_AUTH_TOKEN_FILE"] {
            config.authToken = try readToken(path)
        }
        Telemetry.bootstrap()
        let server = ModelServer(configuration: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            // The server logged the cause; exit non-zero without a second stack of messages.
            throw ExitCode(1)
        }
    }

    private func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the auth token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ValidationError("the auth token file \(path) is empty") }
        return token
    }
}
