import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanRedis
import Foundation
import Testing

@Suite("Feature hydration from the online store", .timeLimit(.minutes(2)))
struct HydrationTests {
    @Test("builds the vector in feature order, with categories, defaults, NaN and freshness")
    func vectorOrderDefaultsMissing() async throws {
        let redis = try await GatewayTestServers.shared.redisServer()
        let p = uniqueViewPrefix()
        let model = threeViewModel(prefix: p)
        try await writeFeatures(redis, view: "\(p)_a", entity: "u1", ts: 1_000, ["x": "2.5", "band": "high"])
        try await writeFeatures(redis, view: "\(p)_b", entity: "u1", ts: 4_000, ["w": "oops"])
        // No hash for view c at all.
        let hydrator = FeatureHydrator(config: try RedisConfig(url: redis.url), connections: 2, logger: testLogger)
        let plan = HydrationPlan(features: model.features)
        #expect(plan.viewNames == ["\(p)_a", "\(p)_b", "\(p)_c"])
        let rows = try await hydrator.hydrate(plan, entities: ["u1", "nobody"], nowMillis: 10_000)
        let row = rows[0]
        #expect(row.values[0] == 2.5)
        #expect(row.values[1] == -1)  // missing y: its default
        #expect(row.values[2] == 2)  // "high" is category 2
        #expect(row.values[3].isNaN)  // no view c: NaN
        #expect(row.values[4].isNaN)  // "oops" is not a number, no default
        #expect(row.missing == [1, 3])
        #expect(row.invalid == [4])
        #expect(row.eventTimes == [1_000, 4_000, nil])
        let empty = rows[1]
        #expect(empty.values[1] == -1)
        #expect(empty.values.enumerated().filter { $0.offset != 1 }.allSatisfy { $0.element.isNaN })
        #expect(empty.missing == [0, 1, 2, 3, 4])
        #expect(empty.eventTimes == [nil, nil, nil])
        await hydrator.close()
    }

    @Test("reads every view of every entity in one pipelined round trip")
    func oneRoundTrip() async throws {
        // Its own redis-server: the count below is server-wide, and the other suites run
        // concurrently against the shared one.
        let redis = try await EmbeddedRedis.start(
            directory: NSTemporaryDirectory() + "capstan-hydration-count-\(getpid())-\(UInt32.random(in: 0...UInt32.max))", logger: testLogger)
        defer {
            redis.stop()
            try? FileManager.default.removeItem(atPath: redis.directory)
        }
        let p = uniqueViewPrefix()
        let model = threeViewModel(prefix: p)
        for entity in ["e1", "e2", "e3"] {
            try await writeFeatures(redis, view: "\(p)_a", entity: entity, ts: 5, ["x": "1"])
        }
        let hydrator = FeatureHydrator(config: try RedisConfig(url: redis.url), connections: 1, logger: testLogger)
        try await hydrator.connectAll()
        let probe = try await RedisConnection.connect(try RedisConfig(url: redis.url), logger: testLogger)
        func hmgetCalls() async throws -> Int {
            let info = try await probe.command(["INFO", "commandstats"]).string ?? ""
            guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_hmget:") }),
                  let calls = line.split(separator: ",").first?.split(separator: "=").last else { return 0 }
            return Int(calls) ?? 0
        }
        let callsBefore = try await hmgetCalls()
        let tripsBefore = hydrator.roundTrips
        let rows = try await hydrator.hydrate(HydrationPlan(features: model.features), entities: ["e1", "e2", "e3"], nowMillis: 10)
        #expect(rows.map { $0.values[0] } == [1, 1, 1])
        #expect(hydrator.roundTrips - tripsBefore == 1)
        #expect(try await hmgetCalls() - callsBefore == 9)  // 3 entities × 3 views, one HMGET each
        await probe.close()
        await hydrator.close()
    }

    @Test("an unreachable Redis is a 503 that names the server")
    func unreachable() async throws {
        let port = try Loopback.freePort()
        var config = RedisConfig(host: "127.0.0.1", port: port)
        config.reconnectAttempts = 1
        let hydrator = FeatureHydrator(config: config, connections: 1, logger: testLogger)
        do throws(GatewayError) {
            _ = try await hydrator.hydrate(HydrationPlan(features: [FeatureRef(view: "v", feature: "f")]), entities: ["e"], nowMillis: 0)
            Issue.record("hydration against a closed port succeeded")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("127.0.0.1:\(port)"))
        }
    }
}
