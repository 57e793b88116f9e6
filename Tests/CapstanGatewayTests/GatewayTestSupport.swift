import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanKafka
import CapstanRedis
import Foundation
import Logging
import Synchronization
import Testing

let testLogger: Logger = {
    var logger = Logger(label: "capstan.gateway.tests")
    logger.logLevel = .warning
    return logger
}()

/// One redis-server and one Kafka mock cluster per test process; tests use their own keys
/// (view names) and topics.
actor GatewayTestServers {
    static let shared = GatewayTestServers()
    // A task, not a value: the actor is reentrant, and concurrent tests must share one start.
    private var redis: Task<EmbeddedRedis, any Error>?
    private var kafka: KafkaMockCluster?

    func redisServer() async throws -> EmbeddedRedis {
        if let redis { return try await redis.value }
        let starting = Task {
            let dir = NSTemporaryDirectory() + "capstan-gateway-tests-\(getpid())"
            ChildProcess.removeAtExit(dir)
            return try await EmbeddedRedis.start(directory: dir, logger: testLogger)
        }
        redis = starting
        return try await starting.value
    }

    func kafkaCluster() throws -> KafkaMockCluster {
        if let kafka { return kafka }
        let started = try KafkaMockCluster(brokers: 1, logger: testLogger)
        kafka = started
        return started
    }
}

/// Writes one online-store hash the way the feature worker does (`_ts` plus the features).
func writeFeatures(_ redis: EmbeddedRedis, view: String, entity: String, ts: Int64, _ fields: [String: String]) async throws {
    let connection = try await RedisConnection.connect(try RedisConfig(url: redis.url), logger: testLogger)
    var args = ["HSET", "cap:\(view):\(entity)", "_ts", String(ts)]
    for (k, v) in fields.sorted(by: { $0.key < $1.key }) { args += [k, v] }
    _ = try await connection.command(args)
    await connection.close()
}

/// A unique prefix for view names, so tests sharing the server never see each other's keys.
func uniqueViewPrefix() -> String { "t\(UInt32.random(in: 0...UInt32.max))" }

/// An in-test model server stand-in for tests about the gateway's own behaviour (hydration,
/// traffic); the end-to-end tests use CapstanServing's real ModelServer. Answers the sum of each
/// row's non-NaN values plus `offset`, so a test can tell versions apart.
final class RecordingBackend: InferenceBackend {
    let offset: Double
    let ready: Atomic<Bool>
    let failure = Mutex<GatewayError?>(nil)
    let inputs = Mutex<[InferenceInput]>([])

    init(offset: Double, ready: Bool = true) {
        self.offset = offset
        self.ready = Atomic(ready)
    }

    func infer(_ input: InferenceInput) async throws(GatewayError) -> InferenceOutput {
        if let failure = failure.withLock({ $0 }) { throw failure }
        inputs.withLock { $0.append(input) }
        var out: [Double] = []
        for r in 0..<input.rows {
            out.append(input.values[(r * input.columns)..<((r + 1) * input.columns)].filter { !$0.isNaN }.reduce(offset, +))
        }
        return InferenceOutput(rows: input.rows, width: 1, values: out)
    }

    func isReady() async -> Bool { ready.load(ordering: .relaxed) }
    func run() async throws {}
    func close() {}
}

/// Backends by version name, for a factory.
final class Backends: Sendable {
    let byVersion: [String: RecordingBackend]
    init(_ byVersion: [String: RecordingBackend]) { self.byVersion = byVersion }
    var factory: InferenceBackendFactory { { _, endpoint in self.byVersion[endpoint.name]! } }
}

/// A two-version model over three views.
func threeViewModel(prefix: String, name: String = "churn") -> ModelRoute {
    ModelRoute(
        name: name, entity: "user_id",
        features: [
            FeatureRef(view: "\(prefix)_a", feature: "x"),
            FeatureRef(view: "\(prefix)_b", feature: "y", defaultValue: -1),
            FeatureRef(view: "\(prefix)_a", feature: "band", categories: ["low", "mid", "high"]),
            FeatureRef(view: "\(prefix)_c", feature: "z"),
            FeatureRef(view: "\(prefix)_b", feature: "w"),
        ],
        versions: [
            ModelVersionEndpoint(name: "v1", host: "127.0.0.1", port: 1, serverModel: name),
            ModelVersionEndpoint(name: "v2", host: "127.0.0.1", port: 2, serverModel: name),
        ])
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
