import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanModels
import CapstanServing
import Foundation
import ServiceLifecycle
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The gateway in front of CapstanServing's real model servers (gRPC ModelInfer), with the
/// churn example's two model versions.
@Suite("Gateway with real model servers", .timeLimit(.minutes(3)))
struct EndToEndTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/churn").path

    /// Servers run in service groups and stop by graceful shutdown: cancelling a Hummingbird
    /// server that has accepted a connection its accept loop has not taken yet traps in NIO.
    struct Running {
        var service: GatewayService
        var servers: [ModelServer]
        var serverGroups: [ServiceGroup]
        var gatewayGroup: ServiceGroup
        var grpcPort: Int
        var prefix: String

        func stop() {
            for group in serverGroups + [gatewayGroup] { Task { await group.triggerGracefulShutdown() } }
        }
    }

    static func runInGroup(_ service: any Service) -> ServiceGroup {
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [], logger: testLogger))
        Task { try await group.run() }
        return group
    }

    /// Starts v1 and v2 of the churn model and a gateway whose views are renamed with a prefix.
    func start(features: Int = 16) async throws -> Running {
        let redis = try await GatewayTestServers.shared.redisServer()
        let p = uniqueViewPrefix()
        let text = try String(contentsOfFile: "\(Self.examples)/gateway.yaml", encoding: .utf8)
            .replacingOccurrences(of: "user_activity:", with: "\(p)_activity:")
            .replacingOccurrences(of: "user_purchases_1h:", with: "\(p)_purchases:")
            .replacingOccurrences(of: "user_engagement_24h:", with: "\(p)_engagement:")
            .replacingOccurrences(of: "trafficFile: traffic.json", with: "")
        var configuration = try GatewayConfiguration.parse(text)
        configuration.models[0].features = Array(configuration.models[0].features.prefix(features))
        var servers: [ModelServer] = []
        var groups: [ServiceGroup] = []
        for (index, artifact) in ["model.json", "model-v2.json"].enumerated() {
            var config = ModelServerConfiguration(
                modelName: "churn", modelVersion: "v\(index + 1)", storageURI: "\(Self.examples)/\(artifact)", format: .xgboost)
            config.host = "127.0.0.1"
            config.httpPort = 0
            config.grpcPort = 0
            let server = ModelServer(configuration: config, logger: testLogger)
            groups.append(Self.runInGroup(server))
            try await server.waitUntilReady()
            configuration.models[0].versions[index].port = try await server.listeningPorts().grpc!
            configuration.models[0].versions[index].serverVersion = "v\(index + 1)"
            servers.append(server)
        }
        let grpcPort = try Loopback.freePort()
        configuration.readinessPollInterval = .milliseconds(100)
        // These tests check answers, not speed: with the whole suite running in parallel on two
        // cores a model server's answer can take longer than the 2 s default, which would turn an
        // expected 502 into a timeout. A timeout this long also checks that the gateway does not
        // wait it out at start-up (it once probed readiness before its clients connected, and
        // became ready only after a whole model timeout).
        configuration.modelTimeout = .seconds(30)
        let service = try GatewayService(
            configuration: configuration, redisURL: redis.url, kafka: nil, host: "127.0.0.1", httpPort: try Loopback.freePort(),
            grpcPort: grpcPort, registry: nil, logger: testLogger)
        let gatewayGroup = Self.runInGroup(service)
        #expect(await eventually(timeout: .seconds(15)) { service.gateway.isReady })
        return Running(service: service, servers: servers, serverGroups: groups, gatewayGroup: gatewayGroup, grpcPort: grpcPort, prefix: p)
    }

    @Test("predictions over REST and gRPC equal the model's own on the hydrated vector")
    func predictsThroughModelServers() async throws {
        let running = try await start()
        defer { running.stop() }
        let redis = try await GatewayTestServers.shared.redisServer()
        let p = running.prefix
        try await writeFeatures(redis, view: "\(p)_activity", entity: "u42", ts: EpochMillis.now(), [
            "amount_eur": "19.99", "is_purchase": "1", "is_mobile": "0", "hour_of_day": "10", "weekend": "0",
            "session_minutes": "3.2", "basket_band": "low",
        ])
        try await writeFeatures(redis, view: "\(p)_purchases", entity: "u42", ts: EpochMillis.now(), ["purchases_1h": "1", "spend_1h": "19.99", "avg_basket_1h": "19.99"])
        let v1 = try ModelLoader.load(Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.examples)/model.json"))), format: .xgboost, origin: "model.json")
        let v2 = try ModelLoader.load(Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.examples)/model-v2.json"))), format: .xgboost, origin: "model-v2.json")

        let result = try await running.service.gateway.predict(model: "churn", entities: ["u42", "u404"])
        for prediction in result.predictions {
            let expected = (prediction.version == "v1" ? v1 : v2).predict(row: prediction.row.values)
            #expect(prediction.output.count == 1)
            #expect(abs(prediction.output.first! - expected[0]) < 1e-6, "\(prediction.entity)")
        }
        let u42 = result.predictions[0].row
        #expect(u42.values[0] == 19.99 && u42.values[6] == 0 && u42.values[7] == 1)
        #expect(u42.values[10] == 0)  // refunds_1h missing: default 0
        #expect(u42.values[11].isNaN)  // no engagement hash
        #expect(u42.eventTimes[2] == nil)

        // The same through the gateway's gRPC API, pinned to v2.
        try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(host: "127.0.0.1", port: running.grpcPort), transportSecurity: .plaintext)) { client in
            let gateway = Capstan_Gateway_V1_Gateway.Client(wrapping: client)
            var request = Capstan_Gateway_V1_PredictRequest()
            request.model = "churn"
            request.entities = ["u42"]
            request.version = "v2"
            let response = try await gateway.predict(request)
            let prediction = try #require(response.predictions.first)
            #expect(prediction.version == "v2")
            #expect(abs(prediction.output[0] - v2.predict(row: u42.values)[0]) < 1e-6)
            #expect(prediction.missingFeatures.contains("\(p)_purchases:refunds_1h"))
            #expect(prediction.freshness.map(\.present) == [true, true, false])

            request.model = "nope"
            do {
                _ = try await gateway.predict(request)
                Issue.record("unknown model accepted over gRPC")
            } catch let error as RPCError {
                #expect(error.code == .notFound)
            }
        }
    }

    @Test("a stopped model server gets no traffic; a model server that rejects the call is 502")
    func readinessAndFailures() async throws {
        // 15 of the model's 16 features: the model server refuses the tensor's shape.
        let short = try await start(features: 15)
        defer { short.stop() }
        do throws(GatewayError) {
            _ = try await short.service.gateway.predict(model: "churn", entities: ["u1"])
            Issue.record("a wrong-shaped call succeeded")
        } catch {
            #expect(error.kind == .badGateway)
            #expect(error.message.contains("16"), "\(error.message)")
        }

        let running = try await start()
        defer { running.stop() }
        _ = try running.service.gateway.router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 50, "v2": 50]))
        // Both versions ready first: otherwise "v2 not ready" below could be the state before its
        // first probe, and that probe could still reach the stopping server and mark v2 ready.
        #expect(await eventually { (try? running.service.gateway.router.readiness(model: "churn"))?.allSatisfy(\.ready) == true })
        await running.serverGroups[1].triggerGracefulShutdown()  // v2 goes away
        #expect(await eventually { (try? running.service.gateway.router.readiness(model: "churn"))?.last?.ready == false })
        for i in 0..<40 {
            let result = try await running.service.gateway.predict(model: "churn", entities: ["user-\(i)"])
            #expect(result.predictions[0].version == "v1")
        }
    }
}
