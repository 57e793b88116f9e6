import CapstanCore
import CapstanKafka
import Synchronization
import Testing

/// What one driven group member saw.
private actor MemberLog {
    var messages: [KafkaMessage] = []
    var events: [RebalanceEvent] = []
    var owned: Set<TopicPartition> = []
    var violations: [String] = []
    /// Records whose commit the group rejected (rebalance in progress): these may be re-processed.
    var uncommitted: [KafkaMessage] = []
    var rejectedCommits = 0

    func add(_ batch: [KafkaMessage]) { messages += batch }
    func add(_ event: RebalanceEvent) { events.append(event) }
    func own(_ partitions: [TopicPartition]) { owned = Set(partitions) }
    func violation(_ text: String) { violations.append(text) }
    func rejected(_ batch: [KafkaMessage]) {
        uncommitted += batch
        rejectedCommits += 1
    }
}

private final class StopFlag: Sendable {
    private let flag = Atomic(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Polls like a feature worker: commits after every batch, completes assignments at the
/// committed offsets, and completes revocations only after checking that no records of the
/// revoked partitions arrive while the revocation is pending.
private func drive(_ consumer: KafkaConsumer, _ log: MemberLog, until stop: StopFlag) async throws {
    while !stop.isSet {
        let result = try await consumer.poll(maxMessages: 200, timeout: .milliseconds(100))
        if !result.messages.isEmpty {
            var next: [TopicPartition: Int64] = [:]
            for message in result.messages { next[message.topicPartition] = message.offset + 1 }
            await log.add(result.messages)
            do {
                try await consumer.commit(next)
            } catch let error as CapstanError where error.code == .conflict {
                await log.rejected(result.messages)
            }
        }
        for event in result.rebalance {
            await log.add(event)
            switch event {
            case .assigned(let partitions):
                try await consumer.completeAssignment(Dictionary(uniqueKeysWithValues: partitions.map { ($0, nil) }))
                await log.own(partitions)
            case .revoked(let partitions):
                let pending = try await consumer.poll(maxMessages: 100, timeout: .milliseconds(300))
                let revoked = Set(partitions)
                if pending.messages.contains(where: { revoked.contains($0.topicPartition) }) {
                    await log.violation("records of revoked partitions returned before completeRevocation")
                }
                if !pending.rebalance.isEmpty { await log.violation("rebalance \(pending.rebalance) while revoking") }
                try await consumer.completeRevocation()
                await log.own([])
            }
        }
    }
}

private func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting for: \(what)")
            throw CapstanError(.timeout, what)
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

@Suite("Consumer group rebalancing against the mock cluster", .timeLimit(.minutes(4)))
struct GroupRebalanceTests {
    @Test("two members split the partitions, and when one leaves the other takes them over without loss")
    func splitAndHandOver() async throws {
        try await withMockCluster(brokers: 3) { cluster in
            let topic = "split"
            let all = Set((0..<4).map { TopicPartition(topic: topic, partition: Int32($0)) })
            try await cluster.createTopic(topic, partitions: 4, replicationFactor: 3)
            try await produce(cluster, topic: topic, count: 200, keys: 40)

            let logA = MemberLog()
            let stopA = StopFlag()
            let consumerA = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "pipeline", topics: [topic], logger: testLogger())
            let taskA = Task { try await drive(consumerA, logA, until: stopA) }
            try await eventually("A owns all partitions") { await logA.owned == all }

            let logB = MemberLog()
            let stopB = StopFlag()
            let consumerB = try KafkaConsumer(
                config: consumerConfig(cluster), groupID: "pipeline", topics: [topic], logger: testLogger())
            let taskB = Task { try await drive(consumerB, logB, until: stopB) }
            try await eventually("A and B own two partitions each") {
                let (a, b) = (await logA.owned, await logB.owned)
                return a.count == 2 && b.count == 2 && a.union(b) == all
            }
            try await produce(cluster, topic: topic, count: 200, keys: 40, from: 200)
            try await eventually("400 records processed") {
                Set(await logA.messages.map(\.text) + logB.messages.map(\.text)).count == 400
            }

            stopB.set()
            try await taskB.value
            await consumerB.close()
            try await eventually("A owns all partitions again") { await logA.owned == all }
            try await produce(cluster, topic: topic, count: 200, keys: 40, from: 400)
            try await eventually("600 records processed") {
                Set(await logA.messages.map(\.text) + logB.messages.map(\.text)).count == 600
            }
            stopA.set()
            try await taskA.value
            await consumerA.close()

            let processed = await logA.messages + logB.messages
            #expect(Set(processed.map(\.text)) == Set((0..<600).map { "key-\($0 % 40):\($0)" }), "no record lost")
            // A record is processed again only after a processing whose commit the group rejected.
            var extra: [String: Int] = [:]
            for message in await logA.uncommitted + logB.uncommitted { extra[message.text, default: 0] += 1 }
            var counts: [String: Int] = [:]
            for message in processed { counts[message.text, default: 0] += 1 }
            let unexplained = counts.filter { $0.value > 1 + extra[$0.key, default: 0] }
            #expect(unexplained.isEmpty, "duplicates not explained by rejected commits: \(unexplained.keys.sorted().prefix(5))")
            #expect(await logA.violations.isEmpty)
            #expect(await logB.violations.isEmpty)
            let eventsA = await logA.events
            let eventsB = await logB.events
            #expect(eventsA.first == .assigned(all.sorted { $0.partition < $1.partition }))
            #expect(eventsA.contains(.revoked(all.sorted { $0.partition < $1.partition })))
            #expect(eventsA.last.map { if case .assigned(let p) = $0 { Set(p) == all } else { false } } == true)
            #expect(eventsB.contains { if case .assigned(let p) = $0 { p.count == 2 } else { false } })
        }
    }
}
