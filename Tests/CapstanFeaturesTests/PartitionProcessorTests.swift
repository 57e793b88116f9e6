import CapstanAPI
import CapstanCore
import Testing

@testable import CapstanFeatures

@Suite("Partition processor")
struct PartitionProcessorTests {
    typealias F = PlanFixtures
    static let t0: Int64 = 1_795_255_200_000  // 2026-11-21T10:00:00Z, a Saturday

    static func plan() throws -> FeaturePlan {
        let activity = F.view("activity", features: [
            FeatureSpec(name: "amount_eur", expr: "coalesce(amount, 0)"),
            FeatureSpec(name: "is_purchase", expr: "action == 'purchase'"),
            FeatureSpec(name: "weekend", expr: "is_weekend(event_time)"),
            FeatureSpec(name: "band", expr: "if(amount_eur > 50, 'high', 'low')"),
        ])
        let windows = F.view("windows", features: [
            F.window("purchases_1h", "1h", .count, filter: "activity.is_purchase"),
            F.window("spend_1h", "1h", .sum, of: "amount", filter: "action == 'purchase'"),
            F.window("last_action", "1h", .last, of: "action"),
            FeatureSpec(name: "share", expr: "purchases_1h / max(events_1h, 1)"),
            F.window("events_1h", "1h", .count),
        ], dependsOn: ["activity"], lateness: "30m")
        return try PlanCompiler.compile([activity, windows])
    }

    @Test("expressions and windows are computed per event, across views")
    func computes() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        _ = F.process(processor, F.event("u1", "purchase", amount: 20, at: Self.t0))
        _ = F.process(processor, F.event("u1", "click", amount: nil, at: Self.t0 + 1000))
        let (rows, rejection) = F.process(processor, F.event("u1", "purchase", amount: 100, at: Self.t0 + 2000))
        #expect(rejection == nil)
        #expect(rows.count == 2)
        #expect(rows[0].values == [.number(100), .bool(true), .bool(true), .string("high")])
        #expect(rows[1].entity == "u1")
        #expect(rows[1].eventTimeMillis == Self.t0 + 2000)
        #expect(rows[1].values == [.number(2), .number(120), .string("purchase"), .number(2.0 / 3.0), .number(3)])
    }

    @Test("rows reused from event to event hold each event's own values, and a kept row keeps its own")
    func reusedRows() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        var rows = FeatureRows()
        _ = F.event("u1", "purchase", amount: 20, at: Self.t0).withUnsafeBytes { processor.process($0, rows: &rows) }
        #expect(rows.count == 2)
        let kept = rows[0]
        rows.removeAll()
        #expect(rows.isEmpty)
        // A rejected event (required field missing) leaves nothing behind from the earlier rows.
        let rejection = Array(#"{"user_id":"u2","ts":"2026-11-21T10:00:01Z"}"#.utf8).withUnsafeBytes { processor.process($0, rows: &rows) }
        #expect(rejection != nil)
        #expect(rows.isEmpty)
        _ = F.event("u2", "click", amount: nil, at: Self.t0 + 1000).withUnsafeBytes { processor.process($0, rows: &rows) }
        #expect(rows.map(\.entity) == ["u2", "u2"])
        #expect(rows[0].values == [.number(0), .bool(false), .bool(true), .string("low")])
        #expect(rows[1].values == [.number(0), .null, .string("click"), .number(0), .number(1)])
        #expect(kept.entity == "u1")
        #expect(kept.values == [.number(20), .bool(true), .bool(true), .string("low")])
    }

    @Test("an out-of-order event sees only the past, and later events see it")
    func outOfOrder() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        _ = F.process(processor, F.event("u1", "purchase", amount: 10, at: Self.t0 + 10_000))
        let late = F.process(processor, F.event("u1", "purchase", amount: 5, at: Self.t0))
        #expect(late.rows[1].values[0] == .number(1))  // only itself: the newer event is in its future
        #expect(late.rows[1].values[1] == .number(5))
        let next = F.process(processor, F.event("u1", "purchase", amount: 1, at: Self.t0 + 20_000))
        #expect(next.rows[1].values[0] == .number(3))
        #expect(next.rows[1].values[1] == .number(16))
    }

    @Test("events leave the window after its size")
    func expiry() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        _ = F.process(processor, F.event("u1", "purchase", amount: 10, at: Self.t0))
        let inside = F.process(processor, F.event("u1", "purchase", amount: 1, at: Self.t0 + 3_599_999))
        #expect(inside.rows[1].values[1] == .number(11))
        let outside = F.process(processor, F.event("u1", "purchase", amount: 1, at: Self.t0 + 3_600_000))
        #expect(outside.rows[1].values[1] == .number(2))
    }

    @Test("bad events are rejected with reasons and change no state", arguments: [
        (#"{"user_id": "u1", "action": "click""#, "malformed JSON"),
        (#"{"action": "click", "ts": "2026-11-21T10:00:00Z"}"#, "missing required field 'user_id'"),
        (#"{"user_id": "u1", "action": "click", "amount": "ten", "ts": "2026-11-21T10:00:00Z"}"#, "field 'amount' must be a number, got string"),
        (#"{"user_id": "u1", "action": "click", "ts": "last tuesday"}"#, "not an RFC 3339 timestamp"),
        (#"{"user_id": "u1", "action": null, "ts": "2026-11-21T10:00:00Z"}"#, "required field 'action' is null"),
        (#"{"user_id": "u1", "action": "click", "ts": {"at": 1}}"#, "must be a timestamp, got object or array"),
    ])
    func rejects(_ json: String, _ reason: String) throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        let (rows, rejection) = F.process(processor, Array(json.utf8))
        #expect(rows.isEmpty)
        #expect(rejection?.reason.contains(reason) == true, "\(String(describing: rejection))")
        #expect(processor.entityCounts == [0, 0])
    }

    @Test("an event later than allowedLateness is rejected by the view that sets it, and by its dependents")
    func tooLate() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        _ = F.process(processor, F.event("u1", "click", amount: nil, at: Self.t0 + 3_600_000))
        let (rows, rejection) = F.process(processor, F.event("u1", "purchase", amount: 5, at: Self.t0 + 1_799_999))
        #expect(rows.map(\.view) == [0])  // activity (1h default lateness) still accepts it
        #expect(rejection?.views == ["windows"])
        #expect(rejection?.reason.contains("allowedLateness") == true)
        let after = F.process(processor, F.event("u1", "purchase", amount: 5, at: Self.t0 + 3_600_001))
        #expect(after.rows[1].values[0] == .number(1))  // the rejected purchase never entered the window
    }

    @Test("a snapshot taken mid-stream resumes exactly like an uninterrupted run")
    func snapshotResume() throws {
        let plan = try Self.plan()
        var rng = SplitMix64(seed: 7)
        var events: [[UInt8]] = []
        for i in 0..<3000 {
            let user = "u\(rng.next() % 50)"
            let action = ["click", "purchase", "view"][Int(rng.next() % 3)]
            let jitter = Int64(rng.next() % 600_000)
            events.append(F.event(user, action, amount: Double(rng.next() % 10_000) / 100, at: Self.t0 + Int64(i) * 5_000 - jitter))
        }
        let uninterrupted = PartitionProcessor(plan: plan)
        var expected: [[FeatureValue]] = []
        for e in events { expected += F.process(uninterrupted, e).rows.map(\.values) }

        let first = PartitionProcessor(plan: plan)
        var actual: [[FeatureValue]] = []
        for e in events[..<1700] { actual += F.process(first, e).rows.map(\.values) }
        let snapshot = first.encodeSnapshot()
        let resumed = PartitionProcessor(plan: plan)
        try resumed.restore(snapshot: snapshot)
        for e in events[1700...] { actual += F.process(resumed, e).rows.map(\.values) }
        #expect(actual == expected)
    }

    @Test("a snapshot from another plan is refused")
    func snapshotOtherPlan() throws {
        let processor = PartitionProcessor(plan: try Self.plan())
        _ = F.process(processor, F.event("u1", "click", amount: nil, at: Self.t0))
        let other = PartitionProcessor(plan: try PlanCompiler.compile([F.view("activity", features: [FeatureSpec(name: "x", expr: "1")])]))
        #expect(throws: CapstanError.self) { try other.restore(snapshot: processor.encodeSnapshot()) }
    }
}
