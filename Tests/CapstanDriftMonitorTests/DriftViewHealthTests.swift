import CapstanAPI
import CapstanCore
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging
import Testing

/// The quality checks beyond the rows: rejected upload rows from PostgreSQL and the online
/// store's freshness mark in a real redis-server.
@Suite("Drift quality: rejected rows and online freshness", .timeLimit(.minutes(3)))
struct DriftViewHealthTests {
    static let logger = Logger(label: "capstan.drift.test")

    static func quality(maxStaleness: String) throws -> DataQualitySpec {
        var quality = DataQualitySpec()
        quality.maxStaleness = try DurationString(parsing: maxStaleness)
        return quality
    }

    @Test("rejected upload rows of the window are counted; the newest online value's age is judged against maxStaleness")
    func fromTheStores() async throws {
        let (pool, _) = try await freshOfflineStore()
        try await TripData(seed: 5).insert(into: pool)
        // Two uploads of `trips` rejected rows: one finished inside the current day, one before it.
        for (id, hoursAgo, rejected) in [("inside", 3.0, 7), ("before", 30.0, 100)] {
            let finished = PostgresTimestamp.literal(micros: Int64((TripData.now.timeIntervalSince1970 - hoursAgo * 3600) * 1_000_000))
            _ = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO capstan_uploads (upload_id, view, content_sha256, format, definition_version, rows, accepted, rejected, bytes, started_ts, finished_ts)
                    VALUES ($1, 'trips', $1, 'csv', 1, 1000, 1000 - $2::bigint, $2::bigint, 1, '\(finished)'::timestamptz, '\(finished)'::timestamptz)
                    """, [.text(id), .text(String(rejected))])
            }
        }
        let directory = NSTemporaryDirectory() + "capstan-drift-health-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let redis = try await EmbeddedRedis.start(directory: directory, logger: Self.logger)
        defer { redis.stop() }
        let redisPool = RedisPool(config: try RedisConfig(url: redis.url), size: 1, logger: Self.logger)
        let online = OnlineStore(pool: redisPool, logger: Self.logger)
        let nowMillis = Int64(TripData.now.timeIntervalSince1970 * 1000)
        // The mark keeps the newest event time written, whatever order the writes come in.
        try await online.write(
            view: "trips", features: ["fare"], ttlMillis: 0,
            updates: [OnlineUpdate(entity: "a", eventTimeMillis: nowMillis - 7_200_000, values: ["1"])])
        try await online.write(
            view: "trips", features: ["fare"], ttlMillis: 0,
            updates: [OnlineUpdate(entity: "b", eventTimeMillis: nowMillis - 9_000_000, values: ["2"])])
        #expect(try await online.newestEventMillis(views: ["trips", "other"]) == [nowMillis - 7_200_000, nil])
        await redisPool.close()

        let health = try StoreViewHealth(pool: pool, redisURL: redis.url, logger: Self.logger)
        let policy = try DriftRunnerTests.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")), quality: Self.quality(maxStaleness: "1h"))
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool), health: health).run(policy, now: TripData.now)
        await health.close()
        let stale = try #require(result.quality.first { $0.check == .onlineStalenessSeconds })
        #expect(stale.value == 7200 && stale.limit == 3600 && stale.violated)
        #expect(stale.message.contains("older than the 60 min limit"), "\(stale.message)")
        let rejected = try #require(result.quality.first { $0.check == .rejectedRows })
        #expect(rejected.value == 7 && !rejected.violated)
    }

    struct Unreachable: DriftViewHealthSource {
        func rejectedRows(view: String, fromMicros: Int64, toMicros: Int64) async throws -> Int64? { nil }
        func newestOnlineMillis(view: String) async throws -> Int64? { throw CapstanError(.unavailable, "connection refused") }
    }

    @Test("an online store that cannot be read breaks maxStaleness with a message that says so; the run completes")
    func unreachableOnlineStore() async throws {
        let (pool, _) = try await freshOfflineStore()
        try await TripData(seed: 6).insert(into: pool)
        let policy = try DriftRunnerTests.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")), quality: Self.quality(maxStaleness: "1h"))
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool), health: Unreachable()).run(policy, now: TripData.now)
        let stale = try #require(result.quality.first { $0.check == .onlineStalenessSeconds })
        #expect(stale.violated && stale.message.contains("connection refused") && stale.message.contains("unknown"))
        #expect(!result.quality.contains { $0.check == .rejectedRows })
        #expect(result.features.count == TripData.numeric.count + TripData.categorical.count)
    }
}
