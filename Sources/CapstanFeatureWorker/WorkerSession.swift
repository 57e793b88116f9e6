import CapstanCore
import CapstanFeatures
import CapstanKafka
import CapstanStore
import Logging
import Synchronization

/// The mutable state of one running worker: partition processors, batches in flight, and the
/// handling of rebalances. Lives inside `FeatureWorker.run()` and is used by that task only.
struct WorkerSession {
    let worker: FeatureWorker
    let plans: [String: TopicPlan]
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let online: OnlineStore
    let offline: OfflineStore
    var processors: [TopicPartition: PartitionProcessor] = [:]
    var nextOffsets: [TopicPartition: Int64] = [:]
    var lastSnapshot: [TopicPartition: ContinuousClock.Instant] = [:]
    var inFlight: [(task: Task<[TopicPartition: Int64], any Error>, done: CompletionFlag)] = []
    /// The latest batch's online write. Each batch's online write starts after its
    /// predecessor's: two events of one entity with the same event time then leave the later
    /// offset online (the Lua script lets an equal `_ts` replace), as the offline "latest" does.
    var lastOnline: Task<Void, any Error>?

    init(worker: FeatureWorker, plans: [String: TopicPlan], consumer: KafkaConsumer, producer: KafkaProducer, online: OnlineStore, offline: OfflineStore) {
        self.worker = worker
        self.plans = plans
        self.consumer = consumer
        self.producer = producer
        self.online = online
        self.offline = offline
    }

    var logger: Logger { worker.logger }
    var configuration: WorkerConfiguration { worker.configuration }

    mutating func loop() async throws {
        let assembler = BatchAssembler(groupID: configuration.groupID, plans: plans, snapshotInterval: configuration.snapshotInterval)
        // The next batch is polled while this one is computed (the consumer's thread fetches and
        // copies messages while the pool computes features). A prefetched batch is handled
        // exactly like a fresh one: its rebalance events first, then its messages.
        var prefetched: Task<PollResult, any Error>?
        let threads = (0..<max(1, configuration.computeShards)).map { DedicatedThreadExecutor(name: "capstan.compute.\($0)") }
        defer { for thread in threads { thread.shutdown() } }
        while !worker.stopRequested {
            let pollStart = ContinuousClock.now
            worker.doing("polling")
            let result: PollResult
            if let next = prefetched {
                prefetched = nil
                result = try await next.value
            } else {
                result = try await consumer.poll(maxMessages: configuration.batchSize, timeout: .milliseconds(100), fill: configuration.pollFill)
            }
            let polled = ContinuousClock.now
            worker.metrics.record { $0.poll += (polled - pollStart).inSeconds }
            try await complete(result.rebalance)
            guard !result.messages.isEmpty else {
                try await reapFinished()
                continue
            }
            if !worker.stopRequested {
                let consumer = self.consumer
                let (size, fill) = (configuration.batchSize, configuration.pollFill)
                prefetched = Task { try await consumer.poll(maxMessages: size, timeout: .milliseconds(100), fill: fill) }
            }
            worker.metrics.record { if $0.firstMessagesAt == nil { $0.firstMessagesAt = polled } }
            worker.doing("computing a batch")
            let batch = try await assembler.assembleSharded(
                result.messages, processors: processors, lastSnapshot: &lastSnapshot, polledAt: polled, threads: threads)
            for (tp, next) in batch.commitOffsets { nextOffsets[tp] = next }
            let computed = ContinuousClock.now
            worker.metrics.record {
                $0.compute += (computed - polled).inSeconds
                $0.events += batch.events
                $0.deadLettered += batch.deadLetters.count
                $0.featureRows += batch.offline.featureRowCount
                $0.batches += 1
            }
            worker.doing("submitting a batch (waiting for the oldest in flight)")
            try await submit(batch)
        }
        // Stopping: a prefetched batch's messages are left for the next owner (never processed,
        // never committed), but its rebalance events are completed so the group can move on.
        if let next = prefetched {
            worker.doing("stopping: completing the prefetched poll's rebalance events")
            try await complete(try await next.value.rebalance)
        }
    }

    /// Handles a poll's rebalance events in order.
    mutating func complete(_ rebalance: [RebalanceEvent]) async throws {
        for event in rebalance {
            switch event {
            case .revoked(let partitions): try await revoke(partitions)
            case .assigned(let partitions): try await assign(partitions)
            }
        }
    }

    /// Starts writing a batch; keeps at most `maxInFlightBatches` in flight. PostgreSQL commits
    /// happen in batch order (each write waits for its predecessor before committing).
    mutating func submit(_ batch: ComputedBatch) async throws {
        let previous = inFlight.last?.task
        let worker = self.worker
        let online = self.online
        let offline = self.offline
        let producer = self.producer
        let done = CompletionFlag()
        let previousOnline = lastOnline
        let onlineTask = Task { () async throws in
            if let previousOnline { try await previousOnline.value }
            try await Self.writeOnline(batch.online, store: online, worker: worker)
        }
        lastOnline = onlineTask
        let task = Task { () async throws -> [TopicPartition: Int64] in
            defer { done.set() }
            async let letters: Void = Self.sendDeadLetters(batch.deadLetters, producer: producer, worker: worker)
            try await letters
            // The rows are copied while the online write and the previous batch's commit run;
            // the commit (with the offsets) waits for both.
            // The PostgreSQL time reported leaves that wait out.
            let waited = WaitTime()
            let start = ContinuousClock.now
            try await worker.retrying("commit a batch to PostgreSQL") {
                try await offline.commit(batch.offline) {
                    let waitStart = ContinuousClock.now
                    defer { waited.add(ContinuousClock.now - waitStart) }
                    try await onlineTask.value
                    if let previous { _ = try await previous.value }
                }
            }
            let end = ContinuousClock.now
            let writing = (end - start - waited.total).inSeconds
            worker.metrics.postgresLatency.recordNanoseconds(Int64(writing * 1e9))
            worker.metrics.record {
                $0.postgres += writing
                $0.lastDurableAt = end
            }
            worker.metrics.batchLatency.recordNanoseconds(Int64((end - batch.polledAt).inSeconds * 1e9))
            worker.metrics.processed.increment(by: Int64(batch.processedEvents))
            worker.metrics.featureRows.increment(by: Int64(batch.offline.featureRowCount))
            if !batch.deadLetters.isEmpty {
                worker.metrics.deadLettered.increment(by: Int64(batch.deadLetters.count))
                worker.metrics.deadLetterTotal.increment(by: Int64(batch.deadLetters.count))
            }
            return batch.commitOffsets
        }
        inFlight.append((task, done))
        while inFlight.count >= configuration.maxInFlightBatches {
            try await completeOldest()
        }
    }

    /// Awaits the oldest batch and commits its offsets to Kafka.
    mutating func completeOldest() async throws {
        await commitToKafka(try await awaitOldest())
    }

    /// Awaits the oldest batch (durable in PostgreSQL and Redis); returns its next offsets.
    mutating func awaitOldest() async throws -> [TopicPartition: Int64] {
        let (task, _) = inFlight.removeFirst()
        return try await task.value
    }

    /// Commits next offsets to Kafka, for lag monitoring and tools. PostgreSQL holds the
    /// authoritative offsets, so a failed or unanswered commit is logged and otherwise ignored.
    func commitToKafka(_ offsets: [TopicPartition: Int64]) async {
        do {
            try await consumer.commit(offsets)
        } catch {
            logger.warning("Kafka offset commit failed; offsets are safe in PostgreSQL", metadata: ["error": "\(error)"])
        }
        worker.metrics.updateLag(consumer.lag())
    }

    /// Completes the batches that have already finished, so an idle poll never blocks on writes
    /// but offsets still get committed promptly.
    mutating func reapFinished() async throws {
        while let first = inFlight.first, first.done.isSet {
            try await completeOldest()
        }
    }

    /// Awaits every batch in flight, then commits their offsets to Kafka once.
    mutating func drain() async throws {
        var offsets: [TopicPartition: Int64] = [:]
        while !inFlight.isEmpty {
            offsets.merge(try await awaitOldest()) { max($0, $1) }
        }
        if !offsets.isEmpty { await commitToKafka(offsets) }
    }

    static func writeOnline(_ writes: [OnlineWrite], store: OnlineStore, worker: FeatureWorker) async throws {
        guard !writes.isEmpty else { return }
        let start = ContinuousClock.now
        // The views' writes touch disjoint keys: they go out on separate pooled connections, so
        // one view's commands are encoded and sent while Redis runs another's.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for write in writes {
                group.addTask {
                    let replaced = try await worker.retrying("write online features to Redis") {
                        try await store.write(view: write.view, features: write.features, ttlMillis: write.ttlMillis, updates: write.updates)
                    }
                    worker.metrics.onlineWrites.increment(by: Int64(replaced))
                }
            }
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).inSeconds
        worker.metrics.redisLatency.recordNanoseconds(Int64(elapsed * 1e9))
        worker.metrics.record { $0.redis += elapsed }
    }

    static func sendDeadLetters(_ letters: [DeadLetter], producer: KafkaProducer, worker: FeatureWorker) async throws {
        guard !letters.isEmpty else { return }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for letter in letters {
                group.addTask { try await producer.send(topic: letter.topic, key: letter.key, value: letter.payload, headers: letter.headers) }
            }
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).inSeconds
        worker.metrics.record { $0.deadLetter += elapsed }
    }
}

/// Time a batch's commit spent waiting for what must be durable before it.
final class WaitTime: Sendable {
    private let state = Mutex(Duration.zero)
    func add(_ duration: Duration) { state.withLock { $0 += duration } }
    var total: Duration { state.withLock { $0 } }
}

/// Set once when a batch's write task ends (successfully or not).
final class CompletionFlag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
