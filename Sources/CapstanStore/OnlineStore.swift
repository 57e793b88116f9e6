import CapstanCore
import CapstanFeatures
import CapstanRedis
import Logging

/// The online store layout in Redis: one hash per (view, entity) at `cap:{view}:{entity}` whose
/// fields are the feature names plus `_ts` (event time, epoch ms). A null feature is an absent
/// field. Numbers are written in Swift's shortest round-trip form, booleans as `1`/`0`.
public enum OnlineLayout {
    public static func key(view: String, entity: String) -> String { "cap:\(view):\(entity)" }
    public static let timestampField = "_ts"
    /// A sorted set: member = view, score = the newest event time (epoch ms) written to the view's
    /// hashes, kept by `ZADD GT` with every write, so a reader learns how fresh the online
    /// store is without scanning it.
    public static let freshnessKey = "cap:_freshness"

    /// The text stored for a value; nil for null.
    public static func text(_ value: FeatureValue) -> String? {
        switch value {
        case .null: nil
        case .number(let x): x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
        case .string(let s): s
        case .bool(let b): b ? "1" : "0"
        }
    }
}

/// One entity's newest features for one view, to be written if newer than what Redis holds.
public struct OnlineUpdate: Sendable {
    public var entity: String
    public var eventTimeMillis: Int64
    /// Values aligned with the view's feature names; nil = null (the field is removed).
    public var values: [String?]

    public init(entity: String, eventTimeMillis: Int64, values: [String?]) {
        self.entity = entity
        self.eventTimeMillis = eventTimeMillis
        self.values = values
    }
}

/// Writes and reads the online store.
///
/// Writes are conditional and atomic per key in a Lua script: a hash is replaced only when the
/// update's event time is not older than the `_ts` Redis holds, so a late or replayed event can
/// never overwrite a fresher value, and replays are idempotent. Many entities go in one script
/// call and many calls in one pipelined round trip.
public final class OnlineStore: Sendable {
    private let pool: RedisPool
    private let logger: Logger
    /// Entities per script call.
    public let chunkSize: Int

    static let script = RedisScript(
        """
        local n = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local written = 0
        for i, key in ipairs(KEYS) do
          local off = 2 + n + (i - 1) * (n + 1)
          local ts = ARGV[off + 1]
          local cur = redis.call('HGET', key, '_ts')
          if (not cur) or tonumber(cur) <= tonumber(ts) then
            local set = {'_ts', ts}
            local del = {}
            for j = 1, n do
              local v = ARGV[off + 1 + j]
              if v == '\\0' then del[#del + 1] = ARGV[2 + j] else set[#set + 1] = ARGV[2 + j]; set[#set + 1] = v end
            end
            redis.call('HSET', key, unpack(set))
            if #del > 0 then redis.call('HDEL', key, unpack(del)) end
            if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
            written = written + 1
          end
        end
        return written
        """)
    /// Marks a null value in the script's arguments (a lone NUL byte).
    static let nullMarker = "\0"

    public init(pool: RedisPool, chunkSize: Int = 500, logger: Logger) {
        self.pool = pool
        self.chunkSize = chunkSize
        self.logger = logger
    }

    /// Writes `updates` of one view; returns how many hashes were replaced (the others held
    /// fresher values). At most one update per entity is expected (the newest of a batch).
    @discardableResult
    public func write(view: String, features: [String], ttlMillis: Int64, updates: [OnlineUpdate]) async throws -> Int {
        guard !updates.isEmpty else { return 0 }
        var commands: [[[UInt8]]] = []
        var start = 0
        while start < updates.count {
            let chunk = updates[start..<min(start + chunkSize, updates.count)]
            var argv: [[UInt8]] = [Array("EVALSHA".utf8), Array(Self.script.sha1.utf8), Array(String(chunk.count).utf8)]
            argv.reserveCapacity(3 + chunk.count * (features.count + 2) + features.count + 2)
            for update in chunk { argv.append(Array(OnlineLayout.key(view: view, entity: update.entity).utf8)) }
            argv.append(Array(String(features.count).utf8))
            argv.append(Array(String(ttlMillis).utf8))
            for name in features { argv.append(Array(name.utf8)) }
            for update in chunk {
                argv.append(Array(String(update.eventTimeMillis).utf8))
                for value in update.values { argv.append(Array((value ?? Self.nullMarker).utf8)) }
            }
            commands.append(argv)
            start += chunkSize
        }
        let newest = updates.reduce(Int64.min) { max($0, $1.eventTimeMillis) }
        commands.append(["ZADD", OnlineLayout.freshnessKey, "GT", String(newest), view].map { Array($0.utf8) })
        return try await pool.withConnection { connection in
            var replies = try await connection.pipeline(bytes: commands)
            if replies.contains(where: { Self.isNoScript($0) }) {
                _ = try await connection.command(["SCRIPT", "LOAD", Self.script.source])
                replies = try await connection.pipeline(bytes: commands)
            }
            if case .error(let message) = replies.last {
                throw CapstanError(.server, "Redis rejected the freshness mark of view \(view) (ZADD GT needs Redis 6.2 or newer): \(message)")
            }
            var written = 0
            for reply in replies.dropLast() {
                switch reply {
                case .integer(let n): written += Int(n)
                case .error(let message): throw CapstanError(.server, "Redis rejected an online write for view \(view): \(message)")
                default: throw CapstanError(.protocolError, "unexpected Redis reply to the online write script: \(reply)")
                }
            }
            return written
        }
    }

    static func isNoScript(_ reply: RedisReply) -> Bool {
        if case .error(let message) = reply { return message.hasPrefix("NOSCRIPT") }
        return false
    }

    /// The newest event time (epoch ms) written to each view's online values; nil for a view
    /// nothing was written to since the freshness mark exists.
    public func newestEventMillis(views: [String]) async throws -> [Int64?] {
        guard !views.isEmpty else { return [] }
        let reply = try await pool.withConnection { try await $0.command(["ZMSCORE", OnlineLayout.freshnessKey] + views) }
        guard case .array(let items) = reply, items.count == views.count else {
            throw CapstanError(.protocolError, "unexpected Redis reply to ZMSCORE \(OnlineLayout.freshnessKey): \(reply)")
        }
        return items.map { item in
            guard case .bulk(let bytes) = item, let score = Double(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return Int64(score)
        }
    }

    /// Reads the named features of many (view, entity) pairs in one pipelined round trip.
    /// Each result maps feature name to its stored text (absent = null), plus `_ts`.
    public func read(_ requests: [(view: String, entity: String, features: [String])]) async throws -> [[String: String]] {
        guard !requests.isEmpty else { return [] }
        let commands = requests.map { r in ["HMGET", OnlineLayout.key(view: r.view, entity: r.entity), OnlineLayout.timestampField] + r.features }
        let replies = try await pool.withConnection { try await $0.pipeline(commands) }
        var out: [[String: String]] = []
        for (request, reply) in zip(requests, replies) {
            guard case .array(let items) = reply else {
                throw CapstanError(.protocolError, "unexpected Redis reply to HMGET for \(OnlineLayout.key(view: request.view, entity: request.entity)): \(reply)")
            }
            var row: [String: String] = [:]
            for (name, item) in zip([OnlineLayout.timestampField] + request.features, items) {
                if case .bulk(let bytes) = item { row[name] = String(decoding: bytes, as: UTF8.self) }
            }
            out.append(row)
        }
        return out
    }
}
