import CapstanCore
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Logging

/// What the data-quality checks need beyond a window's rows: how many rows the view rejected
/// while the window passed, and how fresh its online values are.
public protocol DriftViewHealthSource: Sendable {
    /// Rows of `view` rejected while `[fromMicros, toMicros)` passed (wall clock); nil when unknown.
    func rejectedRows(view: String, fromMicros: Int64, toMicros: Int64) async throws -> Int64?
    /// The newest event time (epoch ms) written to `view`'s online values; nil when unknown.
    func newestOnlineMillis(view: String) async throws -> Int64?
}

/// One view's health as measured for a run; a source that could not be read leaves its value
/// nil and says why, so the run still completes and the report names what was not checked.
public struct DriftViewHealth: Sendable, Hashable {
    public var rejectedRows: Int64?
    public var newestOnlineMillis: Int64?
    public var problems: [String]

    public init(rejectedRows: Int64? = nil, newestOnlineMillis: Int64? = nil, problems: [String] = []) {
        self.rejectedRows = rejectedRows
        self.newestOnlineMillis = newestOnlineMillis
        self.problems = problems
    }

    static func measure(_ source: (any DriftViewHealthSource)?, view: String, current: Range<Int64>) async -> DriftViewHealth {
        guard let source else { return DriftViewHealth() }
        var health = DriftViewHealth()
        do {
            health.rejectedRows = try await source.rejectedRows(view: view, fromMicros: current.lowerBound, toMicros: current.upperBound)
        } catch {
            health.problems.append("rejected rows of \(view) could not be counted: \(error)")
        }
        do {
            health.newestOnlineMillis = try await source.newestOnlineMillis(view: view)
        } catch {
            health.problems.append("the online store's freshness for \(view) could not be read: \(error)")
        }
        return health
    }
}

/// The view's health from the stores: rejected upload rows from `capstan_uploads` (uploads that
/// finished in the window), online freshness from Redis' freshness mark (``OnlineLayout/freshnessKey``).
public struct StoreViewHealth: DriftViewHealthSource {
    public let pool: PostgresPool
    public let online: OnlineStore?

    private let redis: RedisPool?

    /// - Parameter redisURL: the online store (nil: online freshness is not checked).
    public init(pool: PostgresPool, redisURL: String?, logger: Logger) throws {
        self.pool = pool
        self.redis = try redisURL.map { RedisPool(config: try RedisConfig(url: $0), size: 1, logger: logger) }
        self.online = redis.map { OnlineStore(pool: $0, logger: logger) }
    }

    /// Closes the Redis connection (the PostgreSQL pool is the caller's).
    public func close() async {
        await redis?.close()
    }

    public func rejectedRows(view: String, fromMicros: Int64, toMicros: Int64) async throws -> Int64? {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT coalesce(sum(rejected), 0)::bigint FROM capstan_uploads
                WHERE view = $1 AND finished_ts >= '\(PostgresTimestamp.literal(micros: fromMicros))'::timestamptz
                  AND finished_ts < '\(PostgresTimestamp.literal(micros: toMicros))'::timestamptz
                """, [.text(view)])
        }
        return try rows.first?.int64(at: 0)
    }

    public func newestOnlineMillis(view: String) async throws -> Int64? {
        guard let online else { return nil }
        return try await online.newestEventMillis(views: [view]).first ?? nil
    }
}
