import CapstanCore
import CapstanFeatures
import CapstanKafka
import CapstanStore

extension WorkerSession {
    /// Partitions were assigned: restore each one's window state (snapshot + raw-log replay up to
    /// the offset committed in PostgreSQL), then start fetching at that offset.
    mutating func assign(_ partitions: [TopicPartition]) async throws {
        let start = ContinuousClock.now
        var startAt: [TopicPartition: Int64?] = [:]
        var committedByTopic: [String: [Int32: Int64]] = [:]
        for tp in partitions {
            guard let topicPlan = plans[tp.topic] else {
                startAt[tp] = .some(nil)
                continue
            }
            if committedByTopic[tp.topic] == nil {
                committedByTopic[tp.topic] = try await worker.retrying("read committed offsets") {
                    try await offline.committedOffsets(group: configuration.groupID, topic: tp.topic)
                }
            }
            let next = committedByTopic[tp.topic]?[tp.partition]
            let processor = PartitionProcessor(plan: topicPlan.plan)
            worker.doing("assigning: restoring \(tp.topic)/\(tp.partition)")
            if let next {
                try await restore(processor, tp: tp, source: topicPlan.source, upTo: next)
            }
            processors[tp] = processor
            lastSnapshot[tp] = ContinuousClock.now
            if let next { nextOffsets[tp] = next }
            startAt[tp] = .some(next)
            logger.info("partition assigned", metadata: [
                "kafka.topic": "\(tp.topic)", "kafka.partition": "\(tp.partition)",
                "kafka.start_offset": "\(next.map(String.init) ?? "group default")",
                "feature.entities": "\(processor.entityCounts.reduce(0, +))",
            ])
        }
        worker.doing("assigning: completing the assignment")
        try await consumer.completeAssignment(startAt)
        let elapsed = (ContinuousClock.now - start).inSeconds
        worker.metrics.record { $0.restore += elapsed }
    }

    private func restore(_ processor: PartitionProcessor, tp: TopicPartition, source: String, upTo next: Int64) async throws {
        var replayFrom: Int64 = 0
        let snapshot = try await worker.retrying("read window snapshot") {
            try await offline.snapshot(group: configuration.groupID, topic: tp.topic, partition: tp.partition)
        }
        if let snapshot, snapshot.nextOffset <= next {
            do {
                try processor.restore(snapshot: snapshot.state)
                replayFrom = snapshot.nextOffset
            } catch {
                logger.info("window snapshot not usable; rebuilding from the raw event log", metadata: ["error": "\(error)", "kafka.partition": "\(tp.partition)"])
                processor.reset()
            }
        }
        guard replayFrom < next else { return }
        let replayer = Replayer(processor: processor)
        try await offline.rawEvents(source: source, partition: tp.partition, from: replayFrom, to: next) { page in
            replayer.replay(page)
        }
        logger.info("window state rebuilt", metadata: [
            "kafka.partition": "\(tp.partition)", "replay.from": "\(replayFrom)", "replay.to": "\(next)", "replay.events": "\(replayer.count)",
        ])
    }

    /// Partitions are being taken away: make everything in flight durable, commit, write their
    /// window snapshots so the next owner starts fast, then let the group proceed.
    mutating func revoke(_ partitions: [TopicPartition]) async throws {
        worker.doing("revoking: making the batches in flight durable")
        try await drain()
        worker.doing("revoking: writing window snapshots")
        try await writeSnapshots(for: partitions)
        for tp in partitions {
            processors[tp] = nil
            nextOffsets[tp] = nil
            lastSnapshot[tp] = nil
        }
        worker.doing("revoking: completing the revocation")
        try await consumer.completeRevocation()
        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions.map { "\($0.topic)/\($0.partition)" })"])
    }

    func writeSnapshots(for partitions: [TopicPartition]) async throws {
        var batch = OfflineBatch(groupID: configuration.groupID)
        for tp in partitions {
            guard let processor = processors[tp], let next = nextOffsets[tp] else { continue }
            batch.addSnapshot(.init(topic: tp.topic, partition: tp.partition), planHash: processor.plan.planHash, nextOffset: next, state: processor.encodeSnapshot())
        }
        guard !batch.isEmpty else { return }
        try await worker.retrying("write window snapshots") { try await offline.commit(batch) }
    }

    /// Graceful end: drain, snapshot every partition, commit.
    mutating func finish() async throws {
        worker.doing("stopping: making the batches in flight durable")
        try await drain()
        worker.doing("stopping: writing window snapshots")
        try await writeSnapshots(for: Array(processors.keys))
    }

    /// Error path: stop waiting for in-flight writes (they are either durable or will be replayed).
    mutating func abandon() async {
        for (task, _) in inFlight { task.cancel() }
        inFlight.removeAll()
    }
}

/// Feeds raw events back through a processor, discarding the rows (they are already stored).
final class Replayer {
    let processor: PartitionProcessor
    var count = 0
    private var scratch = FeatureRows()

    init(processor: PartitionProcessor) { self.processor = processor }

    func replay(_ page: [RawEvent]) {
        for event in page {
            _ = event.payload.withUnsafeBytes { processor.process($0, rows: &scratch) }
            scratch.removeAll()
            count += 1
        }
    }
}
