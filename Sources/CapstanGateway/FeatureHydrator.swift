import CapstanCore
import CapstanRedis
import Logging
import Synchronization

/// One entity's input vector, read from the online store.
public struct HydratedRow: Sendable {
    /// The model input, in the configured feature order: the stored value, else the feature's
    /// default, else NaN.
    public var values: [Double]
    /// Indices of features with no stored value (absent field, or no hash for the view).
    public var missing: [Int]
    /// Indices of features whose stored value is not a number (or not a known category).
    public var invalid: [Int]
    /// Per view of the plan (in `HydrationPlan.views` order): the `_ts` of the stored values
    /// (epoch ms), nil when the entity has no hash for the view.
    public var eventTimes: [Int64?]
}

/// The Redis reads one model needs, prepared once: for each distinct view the key prefix and
/// the `HMGET` field list (`_ts` first), and where each field's value goes in the vector.
public struct HydrationPlan: Sendable {
    struct View: Sendable {
        var name: String
        var keyPrefix: [UInt8]
        /// `HMGET`, then a placeholder for the key, then `_ts` and the feature names.
        var command: [[UInt8]]
        /// For each feature field (after `_ts`): its index in the vector.
        var slots: [Int]
    }

    let views: [View]
    let features: [FeatureRef]
    /// For categorical features: the category bytes, by vector index.
    let categories: [[[UInt8]]?]

    public init(features: [FeatureRef]) {
        var order: [String] = []
        var byView: [String: [Int]] = [:]
        for (index, feature) in features.enumerated() {
            if byView[feature.view] == nil { order.append(feature.view) }
            byView[feature.view, default: []].append(index)
        }
        views = order.map { name in
            let slots = byView[name]!
            return View(
                name: name, keyPrefix: Array("cap:\(name):".utf8),
                command: [Array("HMGET".utf8), [], Array("_ts".utf8)] + slots.map { Array(features[$0].feature.utf8) },
                slots: slots)
        }
        self.features = features
        categories = features.map { $0.categories?.map { Array($0.utf8) } }
    }

    /// The distinct views, in first-use order.
    public var viewNames: [String] { views.map(\.name) }
}

/// Reads feature vectors from Redis: every view of every requested entity in one pipelined
/// round trip (`HMGET cap:{view}:{entity} _ts f1 f2 ...` per view and entity).
///
/// Requests are spread round-robin over a few connections; each runs on its own thread
/// (hiredis blocks) and reconnects by itself after a failure.
public final class FeatureHydrator: Sendable {
    private let config: RedisConfig
    private let slots: [ConnectionSlot]
    private let next = Atomic<Int>(0)
    private let trips = Atomic<Int>(0)
    private let logger: Logger

    /// Pipelines sent to Redis so far (one per `hydrate` call).
    public var roundTrips: Int { trips.load(ordering: .relaxed) }

    public init(config: RedisConfig, connections: Int, logger: Logger) {
        self.config = config
        self.slots = (0..<max(1, connections)).map { _ in ConnectionSlot() }
        self.logger = logger
    }

    /// Opens every connection now (otherwise they open on first use). Throws 503 when Redis
    /// cannot be reached.
    public func connectAll() async throws(GatewayError) {
        for index in slots.indices { _ = try await connection(index) }
    }

    public func close() async {
        for slot in slots {
            if let connection = slot.connection.withLock({ c -> RedisConnection? in defer { c = nil }; return c }) { await connection.close() }
        }
    }

    /// Hydrates `entities` (in order) with one pipeline.
    public func hydrate(_ plan: HydrationPlan, entities: [String], nowMillis: Int64) async throws(GatewayError) -> [HydratedRow] {
        var commands: [[[UInt8]]] = []
        commands.reserveCapacity(entities.count * plan.views.count)
        for entity in entities {
            for view in plan.views {
                var command = view.command
                command[1] = view.keyPrefix + Array(entity.utf8)
                commands.append(command)
            }
        }
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count
        let connection = try await connection(index)
        let replies: [RedisReply]
        trips.add(1, ordering: .relaxed)
        do {
            replies = try await connection.pipeline(bytes: commands)
        } catch {
            throw Self.unavailable(error, config: config)
        }
        var rows: [HydratedRow] = []
        rows.reserveCapacity(entities.count)
        var position = 0
        for _ in entities {
            var row = HydratedRow(
                values: [Double](repeating: .nan, count: plan.features.count), missing: [], invalid: [],
                eventTimes: [Int64?](repeating: nil, count: plan.views.count))
            for (viewIndex, view) in plan.views.enumerated() {
                let reply = replies[position]
                position += 1
                guard case .array(let items) = reply, items.count == view.slots.count + 1 else {
                    if let message = reply.errorMessage {
                        throw GatewayError(.unavailable, "online store (redis \(config.endpoint)) refused HMGET on cap:\(view.name):…: \(message)")
                    }
                    throw GatewayError(.unavailable, "online store (redis \(config.endpoint)) answered HMGET on cap:\(view.name):… with \(reply)")
                }
                if case .bulk(let ts) = items[0] { row.eventTimes[viewIndex] = Self.parseInt(ts) }
                for (offset, slot) in view.slots.enumerated() {
                    guard case .bulk(let bytes) = items[offset + 1] else {
                        row.missing.append(slot)
                        if let fallback = plan.features[slot].defaultValue { row.values[slot] = fallback }
                        continue
                    }
                    if let value = Self.value(bytes, categories: plan.categories[slot]) {
                        row.values[slot] = value
                    } else {
                        row.invalid.append(slot)
                        if let fallback = plan.features[slot].defaultValue { row.values[slot] = fallback }
                    }
                }
            }
            row.missing.sort()
            row.invalid.sort()
            rows.append(row)
        }
        return rows
    }

    // MARK: - Internals

    private func connection(_ index: Int) async throws(GatewayError) -> RedisConnection {
        if let existing = slots[index].connection.withLock({ $0 }) { return existing }
        do {
            let fresh = try await RedisConnection.connect(config, logger: logger)
            let winner = slots[index].connection.withLock { slot -> RedisConnection in
                if let slot { return slot }
                slot = fresh
                return fresh
            }
            if winner !== fresh { await fresh.close() }
            return winner
        } catch {
            throw Self.unavailable(error, config: config)
        }
    }

    private static func unavailable(_ error: any Error, config: RedisConfig) -> GatewayError {
        let reason = (error as? CapstanError)?.message ?? "\(error)"
        return GatewayError(.unavailable, "online store unreachable (redis \(config.endpoint)): \(reason)")
    }

    /// A stored number (shortest round-trip text, `1`/`0` for booleans) or a category index.
    static func value(_ bytes: [UInt8], categories: [[UInt8]]?) -> Double? {
        if let categories {
            return categories.firstIndex(of: bytes).map(Double.init)
        }
        guard !bytes.isEmpty, bytes.count < 64 else { return nil }
        return Double(String(decoding: bytes, as: UTF8.self))
    }

    static func parseInt(_ bytes: [UInt8]) -> Int64? {
        guard !bytes.isEmpty, bytes.count < 20 else { return nil }
        var value: Int64 = 0
        var negative = false
        for (i, byte) in bytes.enumerated() {
            if i == 0, byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int64(byte - 48)
        }
        return negative ? -value : value
    }
}

/// A lazily opened connection, shared by the requests that land on it.
final class ConnectionSlot: Sendable {
    let connection = Mutex<RedisConnection?>(nil)
}
