import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanModels
import CapstanServing
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// The serving part of `capstan demo`: two model servers (the churn model's v1 and v2 from
/// examples/churn) and the gateway, in this process, answering for users the pipeline just
/// wrote to Redis. Requests go through the gateway's gRPC API like any client's would.
extension Demo {
    /// Serves v1, v2 and, when the batch act registered one, the retrained version with the
    /// traffic split its registerModel step wrote.
    func serveChurnModel(stack: EmbeddedStack, retrained: RegisteredVersion?, logger: Logger) async throws {
        let example = "examples/churn"
        var configuration = try GatewayConfiguration.load(path: "\(example)/gateway.yaml")
        // The traffic file is edited through the API below; work on a copy (the batch act's,
        // with the new version's canary weight, when there is one).
        let traffic = retrained?.trafficFile ?? "\(directory)/traffic.json"
        if retrained == nil {
            try? FileManager.default.removeItem(atPath: traffic)
            try FileManager.default.copyItem(atPath: "\(example)/traffic.json", toPath: traffic)
        }
        configuration.trafficFile = traffic
        var artifacts = [("v1", "\(example)/model.json"), ("v2", "\(example)/model-v2.json")]
        if let retrained, var endpoint = configuration.models[0].versions.first {
            endpoint.name = retrained.name
            configuration.models[0].versions.append(endpoint)
            artifacts.append((retrained.name, retrained.artifact))
        }

        var servers: [ModelServer] = []
        for (version, artifact) in artifacts {
            var config = ModelServerConfiguration(modelName: "churn", modelVersion: version, storageURI: artifact, format: .xgboost)
            config.host = "127.0.0.1"
            config.httpPort = 0
            config.grpcPort = 0
            servers.append(ModelServer(configuration: config, logger: logger))
        }
        let modelServers = ServiceGroup(configuration: .init(services: servers.map { .init(service: $0) }, logger: logger))
        let serversTask = Task { try await modelServers.run() }
        defer { Task { await modelServers.triggerGracefulShutdown() } }  // on the error paths
        for (index, server) in servers.enumerated() {
            let version = artifacts[index].0
            try await server.waitUntilReady()
            let port = try await server.listeningPorts().grpc!
            configuration.models[0].versions[index].port = port
            configuration.models[0].versions[index].host = "127.0.0.1"
            configuration.models[0].versions[index].serverVersion = version
        }
        let grpcPort = try Loopback.freePort()
        let service = try GatewayService(
            configuration: configuration, redisURL: stack.redis.url, kafka: stack.kafkaConfig, host: "127.0.0.1",
            httpPort: try Loopback.freePort(), grpcPort: grpcPort, registry: nil, logger: logger)
        let gatewayGroup = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let gatewayTask = Task { try await gatewayGroup.run() }
        defer { Task { await gatewayGroup.triggerGracefulShutdown() } }  // on the error paths
        let deadline = ContinuousClock.now + .seconds(30)
        while !service.gateway.isReady, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let split = try service.gateway.router.split(model: "churn")
        Console.line("serving: churn \(artifacts.map(\.0).joined(separator: ", ")) model servers (gRPC, Open Inference Protocol), gateway REST on :\(service.httpPort), gRPC on :\(grpcPort); traffic \(split.weights.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))\(split.sticky ? " sticky" : "")")

        try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)) { client in
            let gateway = Capstan_Gateway_V1_Gateway.Client(wrapping: client)
            func ask(_ users: [String], version: String = "") async throws {
                for user in users {
                    var request = Capstan_Gateway_V1_PredictRequest()
                    request.model = "churn"
                    request.entities = [user]
                    request.version = version
                    let started = ContinuousClock.now
                    let response = try await gateway.predict(request)
                    let roundTrip = (ContinuousClock.now - started).inSeconds * 1000
                    guard let p = response.predictions.first else { continue }
                    let stale = p.freshness.filter(\.present).map(\.ageMs).max().map { "features up to \($0 / 1000) s old" } ?? "no stored features"
                    let missing = p.missingFeatures.isEmpty ? "" : ", \(p.missingFeatures.count) missing"
                    Console.line(String(
                        format: "  %@: churn probability %.3f  served by %@  latency %.2f ms (gateway %.2f ms)  %@%@",
                        user, p.output.first ?? .nan, p.version, roundTrip, response.latencyMs, stale, missing))
                }
            }
            Console.line("predictions through the gateway for users the pipeline just wrote:")
            try await ask(["u42", "u7", "u1234", "u99", "u4321", "u2500"])
            if let retrained {
                Console.line("the retrained \(retrained.name) answering directly (version pinned in the request):")
                try await ask(["u42", "u7"], version: retrained.name)
            }
            _ = try service.gateway.router.promote(model: "churn", version: "v2")
            Console.line("after promoting v2 (POST /v1/models/churn/traffic:promote):")
            try await ask(["u42", "u7"])
            _ = try service.gateway.router.rollback(model: "churn")
            Console.line("rolled back to the 90/10 split (POST /v1/models/churn/traffic:rollback)")
        }
        if let log = service.gateway.predictionLog {
            Console.line("prediction log: \(log.acceptedCount) predictions queued for Kafka topic \(log.topic), \(log.droppedCount) dropped")
        }
        await gatewayGroup.triggerGracefulShutdown()
        try? await gatewayTask.value
        await modelServers.triggerGracefulShutdown()
        try? await serversTask.value
    }
}
