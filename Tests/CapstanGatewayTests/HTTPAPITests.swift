import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanRedis
import Foundation
import Hummingbird
import ServiceLifecycle
import Testing

/// Runs a gateway's REST API on a free port for the duration of `body`.
func withHTTPGateway<T>(
    _ gateway: Gateway, token: String? = nil, _ body: (Int) async throws -> T
) async throws -> T {
    let port = try Loopback.freePort()
    let app = GatewayHTTP.application(gateway: gateway, host: "127.0.0.1", port: port, bearerToken: token, registry: nil, logger: testLogger)
    // Stopped by a graceful shutdown: cancelling a Hummingbird server that has accepted a
    // connection its accept loop has not taken yet traps in NIO.
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: testLogger))
    let server = Task { try await group.run() }
    do {
        let up = await eventually { (try? await HTTPTestClient.send(port: port, method: "GET", path: "/healthz"))?.status == 200 }
        guard up else { throw CapstanError(.unavailable, "gateway HTTP server did not start") }
        let result = try await body(port)
        await group.triggerGracefulShutdown()
        _ = await server.result
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = await server.result
        throw error
    }
}

@Suite("Gateway REST API", .timeLimit(.minutes(3)))
struct HTTPAPITests {
    struct Fixture {
        var gateway: Gateway
        var v1: RecordingBackend
        var v2: RecordingBackend
        var prefix: String
    }

    func fixture(maxBody: Int = 4096, redisURL: String? = nil) async throws -> Fixture {
        let redis = try await GatewayTestServers.shared.redisServer()
        let p = uniqueViewPrefix()
        try await writeFeatures(redis, view: "\(p)_a", entity: "u1", ts: EpochMillis.now() - 2_000, ["x": "3", "band": "mid"])
        try await writeFeatures(redis, view: "\(p)_b", entity: "u1", ts: EpochMillis.now(), ["y": "4", "w": "5"])
        try await writeFeatures(redis, view: "\(p)_a", entity: "u2", ts: EpochMillis.now(), ["x": "10"])
        var config = GatewayConfiguration(models: [threeViewModel(prefix: p)])
        config.maxBodyBytes = maxBody
        config.maxBatch = 10
        let v1 = RecordingBackend(offset: 0)
        let v2 = RecordingBackend(offset: 100)
        var redisConfig = try RedisConfig(url: redisURL ?? redis.url)
        redisConfig.reconnectAttempts = 1
        let gateway = try Gateway(
            configuration: config, redis: redisConfig, backends: Backends(["v1": v1, "v2": v2]).factory, predictionLog: nil, seed: 3,
            logger: testLogger)
        await gateway.refreshReadiness()
        return Fixture(gateway: gateway, v1: v1, v2: v2, prefix: p)
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("predict answers the output, the version, the features, what was missing and the freshness")
    func predictOne() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway) { port in
            let response = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(response.status == 200, "\(response.body)")
            let body = try json(response.body)
            #expect(body["version"] as? String == "v1")
            #expect(body["entity"] as? String == "u1")
            // x=3, y=4, band=mid(1), z missing (NaN, skipped by the stand-in), w=5
            #expect(body["output"] as? [Double] == [13])
            #expect((body["features"] as? [Any])?.count == 5)
            #expect(body["missing"] as? [String] == ["\(f.prefix)_c:z"])
            let freshness = try #require(body["freshness"] as? [String: Any])
            let a = try #require(freshness["\(f.prefix)_a"] as? [String: Any])
            #expect((a["age_ms"] as? Int ?? 0) >= 2_000)
            #expect(freshness["\(f.prefix)_c"] is NSNull)
            #expect(body["latency_ms"] is Double)
            // The model server got the vector in feature order.
            let sent = try #require(f.v1.inputs.withLock { $0.last })
            #expect(sent.columns == 5 && sent.rows == 1)
            #expect(Array(sent.values[0..<3]) == [3, 4, 1] && sent.values[3].isNaN && sent.values[4] == 5)

            let batch = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entities": ["u1", 2, "u2"], "request_id": "r-1"}"#)
            #expect(batch.status == 200, "\(batch.body)")
            let answer = try json(batch.body)
            #expect(answer["request_id"] as? String == "r-1")
            let predictions = try #require(answer["predictions"] as? [[String: Any]])
            #expect(predictions.map { $0["entity"] as? String } == ["u1", "2", "u2"])
            #expect(predictions.map { $0["output"] as? [Double] } == [[13], [-1], [9]])

            let pinned = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/versions/v2:predict", body: #"{"entity": "u1"}"#)
            #expect(try json(pinned.body)["version"] as? String == "v2")
            #expect(try json(pinned.body)["output"] as? [Double] == [113])
        }
    }

    @Test("unknown model or version is 404")
    func notFound() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway) { port in
            let model = try await HTTPTestClient.send(port: port, path: "/v1/models/nope:predict", body: #"{"entity": "u1"}"#)
            #expect(model.status == 404)
            #expect(model.body.contains("unknown model 'nope'"))
            let version = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/versions/v7:predict", body: #"{"entity": "u1"}"#)
            #expect(version.status == 404)
            #expect(version.body.contains("no version 'v7'"))
            let inBody = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1", "version": "v9"}"#)
            #expect(inBody.status == 404)
        }
    }

    @Test("a malformed body is 400 saying what was expected")
    func badRequest() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway) { port in
            for body in [
                "not json", #"{"entity": 1.5}"#, #"{"entity": "u1", "entities": ["u2"]}"#, #"{"entiti": "u1"}"#, "{}",
                #"{"entities": []}"#, #"{"entities": ["1","2","3","4","5","6","7","8","9","10","11"]}"#, #"{"entity": ["u1"]}"#,
            ] {
                let response = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: body)
                #expect(response.status == 400, "\(body) → \(response.status) \(response.body)")
                let error = try json(response.body)["error"] as? [String: Any]
                #expect(error?["code"] as? String == "BadRequest")
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("expected") || message.contains("at most 10"), "\(message)")
            }
        }
    }

    @Test("a body over the limit is 413")
    func tooLarge() async throws {
        let f = try await fixture(maxBody: 256)
        try await withHTTPGateway(f.gateway) { port in
            let ids = (0..<100).map { "\"user-\($0)\"" }.joined(separator: ",")
            let response = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: "{\"entities\": [\(ids)]}")
            #expect(response.status == 413)
            #expect(response.body.contains("limit of 256 bytes"))
        }
    }

    @Test("Redis unreachable is 503 with the reason")
    func redisDown() async throws {
        let port = try Loopback.freePort()
        let f = try await fixture(redisURL: "redis://127.0.0.1:\(port)/0")
        try await withHTTPGateway(f.gateway) { httpPort in
            let response = try await HTTPTestClient.send(port: httpPort, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(response.status == 503)
            #expect(response.body.contains("online store unreachable (redis 127.0.0.1:\(port))"))
        }
    }

    @Test("a failing model server is 502; no ready version is 503")
    func modelServerFailure() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway) { port in
            f.v1.failure.withLock { $0 = GatewayError(.badGateway, "model server of 'churn' version 'v1' failed: boom") }
            let failed = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(failed.status == 502)
            #expect(failed.body.contains("boom"))
            f.v1.ready.store(false, ordering: .relaxed)
            await f.gateway.refreshReadiness()
            let unready = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(unready.status == 503)
            #expect(unready.body.contains("no ready version"))
            let ready = try await HTTPTestClient.send(port: port, method: "GET", path: "/readyz")
            #expect(ready.status == 503)
        }
    }

    @Test("with a token configured, calls without it or with a wrong one are 401")
    func bearerToken() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway, token: "s3cret") { port in
            let none = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(none.status == 401)
            #expect(none.headers["www-authenticate"] == "Bearer")
            let wrong = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#, headers: ["Authorization": "Bearer nope"])
            #expect(wrong.status == 401)
            #expect(!wrong.body.contains("s3cret"))
            let admin = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/traffic:rollback", headers: ["Authorization": "Bearer nope"])
            #expect(admin.status == 401)
            let right = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#, headers: ["Authorization": "Bearer s3cret"])
            #expect(right.status == 200)
        }
    }

    @Test("traffic endpoints: set, promote, roll back")
    func trafficEndpoints() async throws {
        let f = try await fixture()
        try await withHTTPGateway(f.gateway) { port in
            let set = try await HTTPTestClient.send(port: port, method: "PUT", path: "/v1/models/churn/traffic", body: #"{"weights": {"v1": 50, "v2": 50}, "sticky": true}"#)
            #expect(set.status == 200, "\(set.body)")
            let promoted = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/traffic:promote", body: #"{"version": "v2"}"#)
            #expect(try json(promoted.body)["weights"] as? [String: Int] == ["v2": 100])
            let served = try await HTTPTestClient.send(port: port, path: "/v1/models/churn:predict", body: #"{"entity": "u1"}"#)
            #expect(try json(served.body)["version"] as? String == "v2")
            let rolledBack = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/traffic:rollback")
            #expect(try json(rolledBack.body)["weights"] as? [String: Int] == ["v1": 50, "v2": 50])
            let shown = try await HTTPTestClient.send(port: port, method: "GET", path: "/v1/models/churn/traffic")
            #expect(try json(shown.body)["ready"] as? [String: Bool] == ["v1": true, "v2": true])
            let bad = try await HTTPTestClient.send(port: port, path: "/v1/models/churn/traffic:promote", body: #"{"version": "v5"}"#)
            #expect(bad.status == 404)
        }
    }
}
