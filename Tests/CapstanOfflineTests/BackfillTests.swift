import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import CapstanStore
import CapstanStoreTestSupport
import Foundation
import Logging
import Testing

struct CrashForTest: Error {}

@Suite("Backfills", .timeLimit(.minutes(5)))
struct BackfillTests {
    static let t0: Int64 = 1_790_000_000_000

    static func views(prefix: String) throws -> (v1: FeatureView, v2: FeatureView) {
        let v1 = try Fixtures.view("\(prefix)", topic: "\(prefix)-events", features: [
            FeatureSpec(name: "amt", expr: "amount"),
            FeatureSpec(name: "cnt_1h", window: WindowSpec(size: try DurationString(parsing: "1h"), aggregation: .count)),
        ])
        let v2 = try Fixtures.view("\(prefix)", topic: "\(prefix)-events", features: [
            FeatureSpec(name: "amt", expr: "amount * 10"),
            FeatureSpec(name: "cnt_1h", window: WindowSpec(size: try DurationString(parsing: "1h"), aggregation: .count)),
            FeatureSpec(name: "sum_30m", window: WindowSpec(size: try DurationString(parsing: "30m"), aggregation: .sum, of: "amount")),
            FeatureSpec(name: "band", expr: "if(amount > 50, 'high', 'low')"),
        ])
        return (v1, v2)
    }

    typealias Event = RawEventLog.Event

    static func writeRawLog(pool: PostgresPool, topic: String) async throws -> [Event] {
        try await RawEventLog.write(pool: pool, topic: topic, t0: t0)
    }

    struct Row: Hashable {
        var entity: String
        var partition: Int32
        var offset: Int64
        var eventTime: Int64
        var values: [String]
    }

    /// What an uninterrupted worker with definition `view` computes for events in [from, to).
    static func reference(_ view: FeatureView, events: [Event], from: Int64, to: Int64) throws -> (rows: Set<Row>, newest: [String: (ts: Int64, values: [FeatureValue])]) {
        let plan = try PlanCompiler.compile([view])
        var rows = Set<Row>()
        var newest: [String: (ts: Int64, values: [FeatureValue])] = [:]
        for partition: Int32 in [0, 1] {
            let processor = PartitionProcessor(plan: plan)
            for e in events where e.partition == partition {
                var out = FeatureRows()
                _ = e.payload.withUnsafeBytes { processor.process($0, rows: &out) }
                for r in out where r.eventTimeMillis >= from && r.eventTimeMillis < to {
                    let v = plan.views[0]
                    let values = v.numericFeatures.map { number(r.values[$0]) } + v.stringFeatures.map { r.values[$0].string ?? "null" }
                    rows.insert(Row(entity: r.entity, partition: partition, offset: e.offset, eventTime: r.eventTimeMillis, values: values))
                    if (newest[r.entity]?.ts ?? .min) <= r.eventTimeMillis { newest[r.entity] = (r.eventTimeMillis, r.values) }
                }
            }
        }
        return (rows, newest)
    }

    static func number(_ v: FeatureValue) -> String {
        switch v {
        case .number(let x): String(format: "%.9g", x)
        case .bool(let b): b ? "1" : "0"
        default: "null"
        }
    }

    static func storedRows(pool: PostgresPool, view: String, version: Int32) async throws -> [Row] {
        let result = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT entity, source_partition, source_offset, (extract(epoch FROM event_ts) * 1000)::bigint, array_to_json(num)::text, array_to_json(txt)::text
                FROM capstan_feature_rows WHERE view = $1 AND definition_version = $2::int
                """, [.text(view), .int64(Int64(version))])
        }
        return try result.map { r in
            let nums = try JSONSerialization.jsonObject(with: Data((r.string(at: 4) ?? "[]").utf8)) as? [Any] ?? []
            let txts = try JSONSerialization.jsonObject(with: Data((r.string(at: 5) ?? "[]").utf8)) as? [Any] ?? []
            let values = nums.map { ($0 as? NSNumber).map { String(format: "%.9g", $0.doubleValue) } ?? "null" } + txts.map { ($0 as? String) ?? "null" }
            return Row(entity: r.string(at: 0)!, partition: Int32(try r.int64(at: 1)!), offset: try r.int64(at: 2)!, eventTime: try r.int64(at: 3)!, values: values)
        }
    }

    @Test("a backfill killed mid-run resumes at its checkpoint and ends with exactly the rows of an uninterrupted run")
    func crashResume() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (v1, v2) = try Self.views(prefix: "bfa")
        _ = try await Fixtures.register([v1], pool: store.pool)
        let events = try await Self.writeRawLog(pool: store.pool, topic: "bfa-events")
        let from = Self.t0 + 1_800_000
        let to = Self.t0 + 6_000_000
        let expected = try Self.reference(v2, events: events, from: from, to: to).rows
        #expect(expected.count > 300)

        var crashing = BackfillRunner(pool: store.pool, redis: nil, chunkEvents: 70, logger: Logger(label: "t"))
        crashing.beforeChunkCommit = { number in if number == 5 { throw CrashForTest() } }
        let request = BackfillRequest(view: "bfa", fromMillis: from, toMillis: to, definition: v2)
        let run = try await crashing.start(request)
        await #expect(throws: CrashForTest.self) { try await crashing.run(run) }
        let partial = try await crashing.progress(run)
        #expect(partial.definitionVersion == 2)
        #expect(partial.status == "failed")
        #expect(partial.eventsDone == 4 * 70)
        let before = try await Self.storedRows(pool: store.pool, view: "bfa", version: 2)
        #expect(before.count == Int(partial.rowsWritten))
        #expect(before.count > 0 && before.count < expected.count)

        let resumer = BackfillRunner(pool: store.pool, redis: nil, chunkEvents: 70, logger: Logger(label: "t"))
        #expect(try await resumer.start(request) == run)  // the same inputs find the same run
        let done = try await resumer.run(run)
        #expect(done.status == "succeeded")
        #expect(done.eventsDone == Int64(events.count))
        #expect(done.eventsTotal == Int64(events.count))
        #expect(done.fraction == 1)
        let stored = try await Self.storedRows(pool: store.pool, view: "bfa", version: 2)
        #expect(stored.count == expected.count)  // no duplicates from the replayed chunk
        #expect(Set(stored) == expected)
        #expect(Int(done.rowsWritten) == expected.count)
    }

    @Test("running a backfill twice adds nothing; lineage lists the run")
    func idempotent() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (v1, v2) = try Self.views(prefix: "bfb")
        _ = try await Fixtures.register([v1], pool: store.pool)
        let events = try await Self.writeRawLog(pool: store.pool, topic: "bfb-events")
        let runner = BackfillRunner(pool: store.pool, redis: nil, chunkEvents: 200, logger: Logger(label: "t"))
        let request = BackfillRequest(view: "bfb", fromMillis: Self.t0, toMillis: Self.t0 + 100_000_000, definition: v2)
        let first = try await runner.start(request)
        let done = try await runner.run(first)
        let expected = try Self.reference(v2, events: events, from: request.fromMillis, to: request.toMillis).rows
        #expect(Int(done.rowsWritten) == expected.count)

        #expect(try await runner.start(request) == first)
        #expect(try await runner.run(first).rowsWritten == done.rowsWritten)
        var forced = request
        forced.force = true
        let second = try await runner.start(forced)
        #expect(second != first)
        let again = try await runner.run(second)
        #expect(again.status == "succeeded")
        #expect(again.rowsWritten == 0)
        #expect(again.eventsDone == Int64(events.count))
        #expect(Set(try await Self.storedRows(pool: store.pool, view: "bfb", version: 2)) == expected)
        #expect(try await Self.storedRows(pool: store.pool, view: "bfb", version: 2).count == expected.count)

        let lineage = try await LineageService(pool: store.pool).lineage(view: "bfb", feature: "sum_30m")
        #expect(lineage.versions.map(\.version) == [1, 2])
        #expect(lineage.runs.map(\.id) == [String(first), String(second)])
        #expect(lineage.runs.first?.rows == Int64(expected.count))
    }

    @Test("online values change only where the recomputed latest differs and is not older than Redis")
    func onlineRule() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let redis = RedisPool(config: try RedisConfig(url: store.redisURL), size: 2, logger: Logger(label: "t"))
        defer { Task { await redis.close() } }
        let (v1, v2) = try Self.views(prefix: "bfc")
        _ = try await Fixtures.register([v1], pool: store.pool)
        let events = try await Self.writeRawLog(pool: store.pool, topic: "bfc-events")
        let request = BackfillRequest(view: "bfc", fromMillis: Self.t0, toMillis: Self.t0 + 100_000_000, definition: v2)
        let newest = try Self.reference(v2, events: events, from: request.fromMillis, to: request.toMillis).newest
        let names = ["amt", "cnt_1h", "sum_30m", "band"]
        let online = OnlineStore(pool: redis, logger: Logger(label: "t"))
        // u0: Redis holds something fresher; u1: Redis already holds the recomputed values;
        // u2: Redis holds older, different values; the others are not in Redis.
        let fresher = Self.t0 + 1_000_000_000
        _ = try await online.write(view: "bfc", features: names, ttlMillis: 0, updates: [
            OnlineUpdate(entity: "u0", eventTimeMillis: fresher, values: ["-1", "-1", "-1", "old"]),
            OnlineUpdate(entity: "u1", eventTimeMillis: newest["u1"]!.ts, values: newest["u1"]!.values.map(OnlineLayout.text)),
            OnlineUpdate(entity: "u2", eventTimeMillis: Self.t0 - 1, values: ["-2", "-2", nil, "stale"]),
        ])
        let runner = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: 100, logger: Logger(label: "t"))
        let done = try await runner.run(try await runner.start(request))
        let read = try await online.read(newest.keys.sorted().map { (view: "bfc", entity: $0, features: names) })
        for (entity, held) in zip(newest.keys.sorted(), read) {
            if entity == "u0" {
                #expect(held == ["_ts": String(fresher), "amt": "-1", "cnt_1h": "-1", "sum_30m": "-1", "band": "old"])
            } else {
                var want = ["_ts": String(newest[entity]!.ts)]
                for (name, value) in zip(names, newest[entity]!.values) { want[name] = OnlineLayout.text(value) }
                #expect(held == want, "entity \(entity)")
            }
        }
        // Every entity changed except u0 (fresher) and u1 (already equal); chunks may rewrite an
        // entity more than once, so at least that many.
        #expect(done.onlineUpdated >= Int64(newest.count - 2))
        let untouched = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: 100, logger: Logger(label: "t"))
        var again = request
        again.force = true
        let rerun = try await untouched.run(try await untouched.start(again))
        #expect(rerun.onlineUpdated == 0)  // nothing differs any more
    }

    @Test("lineage: ancestry through another view's feature down to fields and sources, and downstream dependents")
    func lineageTree() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let base = try Fixtures.view("lin_a", topic: "lin", features: [FeatureSpec(name: "amount_eur", expr: "coalesce(amount, 0)")])
        let derived = try Fixtures.view("lin_b", topic: "lin", features: [
            FeatureSpec(name: "big", expr: "lin_a.amount_eur > 100"),
            FeatureSpec(name: "max_1h", window: WindowSpec(size: try DurationString(parsing: "1h"), aggregation: .max, of: "lin_a.amount_eur", filter: "kind == 'buy'")),
            FeatureSpec(name: "share", expr: "if(big, 1, 0)"),
        ], dependsOn: ["lin_a"])
        _ = try await Fixtures.register([base, derived], pool: store.pool)
        let service = LineageService(pool: store.pool)
        let report = try await service.lineage(view: "lin_b", feature: "max_1h")
        let children = report.ancestry.children
        #expect(children.contains { $0.kind == "feature" && $0.name == "lin_a:amount_eur" && $0.role == "window.of" })
        let upstream = children.first { $0.name == "lin_a:amount_eur" }!
        #expect(upstream.children.contains { $0.kind == "field" && $0.name == "amount" && $0.children.map(\.name) == ["kafka:lin"] })
        #expect(children.contains { $0.kind == "field" && $0.name == "kind" && $0.role == "window.filter" })

        let down = try await service.lineage(view: "lin_a", feature: "amount_eur")
        #expect(down.dependents.map(\.name).sorted() == ["lin_b:big", "lin_b:max_1h"])
        let big = down.dependents.first { $0.name == "lin_b:big" }!
        #expect(big.children.map(\.name) == ["lin_b:share"])  // transitive
        let text = LineageService.render(down)
        #expect(text.contains("lin_a:amount_eur  (version 1"))
        #expect(text.contains("[expr] field amount"))
        #expect(text.contains("└─ [expr] feature lin_b:share (v1)"))
        await #expect(throws: CapstanError.self) { try await service.lineage(view: "lin_a", feature: "missing") }
    }
}
