import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging

/// What a materialization did.
public struct MaterializeResult: Sendable, Hashable {
    public var view: String
    /// The definition version whose rows were copied (the latest registered one).
    public var version: Int32
    /// Entities with a row in the range.
    public var entities: Int
    /// Online hashes replaced (entities whose online value was older or different).
    public var written: Int
}

/// Copies a FeatureView's newest offline values in an event-time range to the online store:
/// per entity, the latest row (by event time, then created time, then source offset) of the
/// view's latest definition version with `from <= event time < to`.
///
/// Idempotent and safe next to a running worker: an entity's hash is replaced only when the
/// row is not older than the `_ts` Redis holds (``OnlineStore``'s conditional script) and its
/// values differ, so a repeated run writes nothing and never overwrites a fresher value.
public struct OnlineMaterializer: Sendable {
    public let pool: PostgresPool
    public let redis: RedisPool
    public let logger: Logger
    /// Entities read (and written) per page.
    public var pageSize: Int

    public init(pool: PostgresPool, redis: RedisPool, pageSize: Int = 5_000, logger: Logger) {
        self.pool = pool
        self.redis = redis
        self.pageSize = max(1, pageSize)
        self.logger = logger
    }

    /// Materializes `view` over `[fromMillis, toMillis)`; nil bounds are open.
    /// - Throws: `.notFound` for a view that is not registered, `.invalidArgument` for an empty
    ///   range or a view with online serving disabled, the stores' errors otherwise.
    public func materialize(view: String, fromMillis: Int64? = nil, toMillis: Int64? = nil) async throws -> MaterializeResult {
        if let fromMillis, let toMillis, fromMillis >= toMillis {
            throw CapstanError(.invalidArgument, "materialize range is empty: from \(EpochMillis.format(fromMillis)) is not before to \(EpochMillis.format(toMillis))")
        }
        let definition = try await FeatureRegistry(pool: pool).definition(of: view)
        let spec = try definition.spec()
        guard spec.online?.enabled ?? true else {
            throw CapstanError(.invalidArgument, "FeatureView \(view) has online serving disabled (spec.online.enabled: false); nothing to materialize")
        }
        let names = spec.features.map(\.name)
        let ttl = try definition.ttlMillis()
        let online = OnlineStore(pool: redis, logger: logger)
        var result = MaterializeResult(view: view, version: definition.version, entities: 0, written: 0)
        var after = ""
        while true {
            let page = try await self.page(view: view, version: definition.version, from: fromMillis, to: toMillis, after: after)
            guard let last = page.last else { break }
            after = last.entity
            result.entities += page.count
            let held = try await online.read(page.map { (view: view, entity: $0.entity, features: names) })
            var updates: [OnlineUpdate] = []
            for (row, current) in zip(page, held) {
                let texts = names.map { name -> String? in
                    if let i = definition.numericFeatures.firstIndex(of: name) { return row.numbers.indices.contains(i) ? row.numbers[i].map { OnlineLayout.text(.number($0)) } ?? nil : nil }
                    if let i = definition.stringFeatures.firstIndex(of: name) { return row.texts.indices.contains(i) ? row.texts[i] : nil }
                    return nil
                }
                if let ts = current[OnlineLayout.timestampField].flatMap({ Int64($0) }) {
                    if ts > row.eventMillis { continue }  // Redis holds something fresher
                    if zip(names, texts).allSatisfy({ current[$0.0] == $0.1 }) { continue }  // unchanged
                }
                updates.append(OnlineUpdate(entity: row.entity, eventTimeMillis: row.eventMillis, values: texts))
            }
            if !updates.isEmpty { result.written += try await online.write(view: view, features: names, ttlMillis: ttl, updates: updates) }
            if page.count < pageSize { break }
        }
        logger.info(
            "materialized view", metadata: ["feature.view": "\(view)", "feature.version": "\(definition.version)", "entities": "\(result.entities)", "written": "\(result.written)"])
        return result
    }

    struct Row {
        var entity: String
        var eventMillis: Int64
        var numbers: [Double?]
        var texts: [String?]
    }

    /// The newest row per entity of one page of entities (in entity order, after `after`).
    private func page(view: String, version: Int32, from: Int64?, to: Int64?, after: String) async throws -> [Row] {
        var binds: [PostgresBind] = [.text(view), .int64(Int64(version)), .text(after), .int64(Int64(pageSize))]
        var range = ""
        if let from {
            binds.append(.int64(from))
            range += " AND event_ts >= to_timestamp($\(binds.count)::double precision / 1000)"
        }
        if let to {
            binds.append(.int64(to))
            range += " AND event_ts < to_timestamp($\(binds.count)::double precision / 1000)"
        }
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT DISTINCT ON (entity) entity, (extract(epoch FROM event_ts) * 1000)::bigint AS ms,
                       array_to_json(num)::text AS num, array_to_json(txt)::text AS txt
                FROM capstan_feature_rows
                WHERE view = $1 AND definition_version = $2 AND entity > $3\(range)
                ORDER BY entity, event_ts DESC, created_ts DESC, source_offset DESC
                LIMIT $4
                """, binds)
        }
        return try rows.map { row in
            func array(_ column: String) throws -> [JSONValue] {
                guard let text = try row.string(column), case .array(let items) = try JSONValue.parse(Array(text.utf8)) else { return [] }
                return items
            }
            return Row(
                entity: try row.string("entity") ?? "", eventMillis: try row.int64("ms") ?? 0,
                numbers: try array("num").map(\.doubleValue), texts: try array("txt").map(\.stringValue))
        }
    }
}
