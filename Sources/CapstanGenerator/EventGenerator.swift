import CapstanCore
import CapstanKafka
import Foundation
import Logging

/// `capstan generate`: several concurrent producers writing fake user events to a topic at a
/// target rate (or as fast as possible), keyed by user id so a user's events stay ordered.
public struct EventGenerator: Sendable {
    public var kafka: KafkaConfig
    public var topic: String
    public var producers: Int
    /// Events per second over all producers; 0 = as fast as possible.
    public var rate: Double
    public var users: FakeUsers
    public var seed: UInt64
    /// After this long, events come from `users.shifted(by: shift)` (a drift to detect).
    public var shiftAfter: Duration?
    public var shift: Double

    public init(
        kafka: KafkaConfig, topic: String, producers: Int = 2, rate: Double = 10_000, users: FakeUsers = FakeUsers(), seed: UInt64 = 42,
        shiftAfter: Duration? = nil, shift: Double = 1
    ) {
        self.shiftAfter = shiftAfter
        self.shift = shift
        self.kafka = kafka
        self.topic = topic
        self.producers = max(1, producers)
        self.rate = rate
        self.users = users
        self.seed = seed
    }

    public struct Report: Sendable {
        public var sent: Int
        public var delivered: Int
        public var failed: Int
        public var seconds: Double
        public var eventsPerSecond: Double { seconds > 0 ? Double(sent) / seconds : 0 }
    }

    /// Produces `count` events (or until `duration` passes, whichever is first), waits for
    /// every delivery report, and reports what was delivered.
    public func run(count: Int?, duration: Duration?, logger: Logger) async throws -> Report {
        let start = ContinuousClock.now
        let deadline = duration.map { start + $0 }
        let perProducer = count.map { c in (0..<producers).map { c / producers + ($0 < c % producers ? 1 : 0) } }
        let results = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
            for p in 0..<producers {
                let quota = perProducer?[p]
                group.addTask {
                    try await runProducer(index: p, quota: quota, deadline: deadline, start: start, logger: logger)
                }
            }
            var out: [(Int, Int, Int)] = []
            for try await r in group { out.append(r) }
            return out
        }
        let seconds = (ContinuousClock.now - start).inSeconds
        return Report(
            sent: results.reduce(0) { $0 + $1.0 }, delivered: results.reduce(0) { $0 + $1.1 },
            failed: results.reduce(0) { $0 + $1.2 }, seconds: seconds)
    }

    private func runProducer(index: Int, quota: Int?, deadline: ContinuousClock.Instant?, start: ContinuousClock.Instant, logger: Logger) async throws -> (Int, Int, Int) {
        let producer = try KafkaProducer(config: kafka, logger: logger)
        var rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x1000_0001)
        let shifted = users.shifted(by: shift)
        let perSecond = rate > 0 ? rate / Double(producers) : 0
        var sent = 0
        let chunk = 256
        while quota.map({ sent < $0 }) ?? true {
            if let deadline, ContinuousClock.now >= deadline { break }
            if Task.isCancelled { break }
            if perSecond > 0 {
                let due = Int((ContinuousClock.now - start).inSeconds * perSecond)
                if sent >= due {
                    try await Task.sleep(for: .milliseconds(2))
                    continue
                }
            }
            let n = min(chunk, quota.map { $0 - sent } ?? chunk)
            let now = EpochMillis.now()
            let source = shiftAfter.map { ContinuousClock.now - start >= $0 } == true ? shifted : users
            for _ in 0..<n {
                let event = source.event(now: now, rng: &rng)
                try await producer.enqueue(topic: topic, key: event.key, value: event.value)
            }
            sent += n
        }
        try await producer.flush(timeout: .seconds(60))
        let delivered = producer.deliveredCount
        let failed = producer.failedCount
        await producer.close()
        return (sent, delivered, failed)
    }
}
