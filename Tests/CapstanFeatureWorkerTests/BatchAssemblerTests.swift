import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanKafka
import CapstanStore
import Testing

@testable import CapstanFeatureWorker

/// The online part of a computed batch: which entities a batch sends to Redis, and with which
/// values (no servers needed: the assembler only computes).
@Suite("Batch assembly: online updates")
struct BatchAssemblerTests {
    static let topic = "events"
    static let view = FeatureView(name: "activity", spec: FeatureViewSpec(
        entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: topic)), eventTime: EventTimeSpec(field: "ts"),
        schema: [
            EventField(name: "user_id", type: .string, required: true),
            EventField(name: "amount", type: .number, required: true),
            EventField(name: "ts", type: .timestamp, required: true),
        ],
        features: [
            FeatureSpec(name: "amount_x2", expr: "amount * 2"),
            FeatureSpec(name: "events_1h", window: WindowSpec(size: try! DurationString(parsing: "1h"), aggregation: .count)),
        ],
        allowedLateness: try! DurationString(parsing: "1h"), online: OnlineSpec(enabled: true)))

    struct Harness {
        let assembler: BatchAssembler
        let processors: [TopicPartition: PartitionProcessor]
        var lastSnapshot: [TopicPartition: ContinuousClock.Instant] = [:]
        var offset: Int64 = 0

        init() throws {
            let plan = try PlanCompiler.compile([BatchAssemblerTests.view])
            let topicPlan = TopicPlan(topic: BatchAssemblerTests.topic, plan: plan, versions: [1], sourceID: 1)
            assembler = BatchAssembler(groupID: "g", plans: [BatchAssemblerTests.topic: topicPlan], snapshotInterval: .seconds(3600))
            processors = [TopicPartition(topic: BatchAssemblerTests.topic, partition: 0): PartitionProcessor(plan: plan)]
        }

        /// Assembles one batch of `(user, amount, event time)` events on partition 0; returns the
        /// online updates by entity.
        mutating func batch(_ events: [(String, Double, Int64)]) -> [String: OnlineUpdate] {
            var messages: [KafkaMessage] = []
            for (user, amount, ms) in events {
                let json = #"{"user_id":"\#(user)","amount":\#(amount),"ts":"\#(EpochMillis.format(ms))"}"#
                messages.append(KafkaMessage(topic: BatchAssemblerTests.topic, partition: 0, offset: offset, key: Array(user.utf8), value: Array(json.utf8)))
                offset += 1
            }
            let computed = assembler.assemble(messages, processors: processors, lastSnapshot: &lastSnapshot, polledAt: .now)
            var out: [String: OnlineUpdate] = [:]
            for write in computed.online {
                #expect(write.view == "activity")
                #expect(write.features == ["amount_x2", "events_1h"])
                for update in write.updates {
                    #expect(out[update.entity] == nil, "one update per entity and batch")
                    out[update.entity] = update
                }
            }
            return out
        }
    }

    static let t0: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    @Test("a batch sends each entity's newest values once; of equal event times the later event's")
    func newestPerEntity() throws {
        var harness = try Harness()
        let t0 = Self.t0
        let events: [(String, Double, Int64)] = [
            ("a", 1, t0 + 10_000), ("a", 2, t0 + 20_000), ("a", 3, t0 + 15_000),
            ("b", 5, t0 + 5_000),
            ("c", 7, t0 + 30_000), ("c", 8, t0 + 30_000),
        ]
        let updates = harness.batch(events)
        #expect(Set(updates.keys) == ["a", "b", "c"])
        #expect(updates["a"]?.eventTimeMillis == Self.t0 + 20_000)
        // The event at +20 s, when the window held the events at +10 s and +20 s.
        #expect(updates["a"]?.values == ["4", "2"])
        #expect(updates["b"]?.eventTimeMillis == Self.t0 + 5_000)
        #expect(updates["b"]?.values == ["10", "1"])
        #expect(updates["c"]?.eventTimeMillis == Self.t0 + 30_000)
        #expect(updates["c"]?.values == ["16", "2"])
    }

    @Test("an entity whose events in a batch are all older than one already seen gets no update; a newer one does")
    func staleEntitiesAreNotSent() throws {
        var harness = try Harness()
        let t0 = Self.t0
        _ = harness.batch([("a", 1, t0 + 60_000), ("b", 1, t0 + 60_000)])
        // Late but within the allowed lateness: counted offline and in the windows, not online.
        let late: [(String, Double, Int64)] = [("a", 9, t0 + 30_000), ("b", 2, t0 + 50_000), ("b", 3, t0 + 70_000)]
        let updates = harness.batch(late)
        #expect(updates["a"] == nil)
        #expect(updates["b"]?.eventTimeMillis == Self.t0 + 70_000)
        #expect(updates["b"]?.values == ["6", "3"])
        // An equal time is not older: the later event replaces the online value.
        let again = harness.batch([("a", 4, t0 + 60_000)])
        #expect(again["a"]?.eventTimeMillis == Self.t0 + 60_000)
        #expect(again["a"]?.values == ["8", "3"])
    }
}
