import CapstanCore
import CapstanFeatures
import CapstanKafka
import CapstanStore

/// The views of one source topic, compiled, with their registered definition versions.
struct TopicPlan: Sendable {
    var topic: String
    var plan: FeaturePlan
    var versions: [Int32]
    /// The topic's id in `capstan_sources` (`FeatureSources`), which its feature rows carry.
    var sourceID: Int32
    var source: String { FeatureSources.kafka(topic) }
}

/// A dead-letter record: the original key and payload, the reason in headers.
struct DeadLetter: Sendable {
    var topic: String
    var key: [UInt8]?
    var payload: [UInt8]
    var headers: [(String, [UInt8])]
}

/// One view's newest values per entity in a batch.
struct OnlineWrite: Sendable {
    var view: String
    var features: [String]
    var ttlMillis: Int64
    var updates: [OnlineUpdate]
}

/// What one polled batch turned into; durable as a whole before its offsets are committed.
struct ComputedBatch: Sendable {
    var offline: OfflineBatch
    var online: [OnlineWrite]
    var deadLetters: [DeadLetter]
    var events: Int
    var processedEvents: Int
    var commitOffsets: [TopicPartition: Int64]
    var polledAt: ContinuousClock.Instant
}

/// Turns messages into a `ComputedBatch`: evaluates features with each partition's processor,
/// encodes offline rows, keeps the newest online values per entity, and collects dead letters.
struct BatchAssembler {
    var groupID: String
    var plans: [String: TopicPlan]
    var snapshotInterval: Duration

    /// Per-view facts the assembly loop needs, copied out of the plan once per topic.
    struct ViewLayout {
        var name: String
        var version: Int32
        var numeric: [Int]
        var strings: [Int]
        var offline: Bool
        var online: Bool
        var deadLetterTopic: String?
    }

    /// The newest values per entity of one partition's views in a batch, flat and indexed by the
    /// processor's entity slot: no string-keyed lookup, and no copy of a row's values array
    /// (which the engine refills in place for the next event). The entity and its event time
    /// are the processor's.
    struct PartitionNewest {
        struct ViewNewest {
            /// Per entity slot, its position in `slots`, or -1 if the batch has no newest row of it.
            var position: [Int32] = []
            /// The entity slots with a newest row, in first-seen order.
            var slots: [Int] = []
            /// `featureCount` values per position in `slots`.
            var values: [FeatureValue] = []
        }
        var topic: String
        let processor: PartitionProcessor
        var perView: [ViewNewest]

        init(topic: String, processor: PartitionProcessor, viewCount: Int) {
            self.topic = topic
            self.processor = processor
            perView = Array(repeating: ViewNewest(), count: viewCount)
        }

        /// Keeps `row` as its entity's newest unless the entity has a later event, in this batch
        /// or an earlier one: the processor has already taken the row's time into the entity's
        /// newest, so the row is the newest exactly when the times are equal (and of equal times
        /// the later row wins). An entity whose rows in this batch are all older than an event
        /// the processor accepted before gets no online update.
        mutating func offer(_ row: FeatureRow) {
            let slot = row.entitySlot
            guard row.eventTimeMillis >= processor.newestMillis(view: row.view, slot: slot) else { return }
            let featureCount = row.values.count
            if slot >= perView[row.view].position.count {
                perView[row.view].position.append(contentsOf: repeatElement(-1, count: slot + 1 - perView[row.view].position.count))
            }
            var at = Int(perView[row.view].position[slot])
            if at < 0 {
                at = perView[row.view].slots.count
                perView[row.view].position[slot] = Int32(at)
                perView[row.view].slots.append(slot)
                perView[row.view].values.append(contentsOf: row.values)
                return
            }
            for k in 0..<featureCount { perView[row.view].values[at * featureCount + k] = row.values[k] }
        }

        /// The online updates of view `v`: each entity's newest values, as stored texts.
        func updates(view v: Int) -> [OnlineUpdate] {
            let newest = perView[v]
            guard !newest.slots.isEmpty else { return [] }
            let featureCount = newest.values.count / newest.slots.count
            return newest.slots.enumerated().map { at, slot in
                let entity = processor.entity(view: v, slot: slot)
                let first = at * featureCount
                return OnlineUpdate(
                    entity: entity.id, eventTimeMillis: entity.newestMillis,
                    values: newest.values[first..<first + featureCount].map(OnlineLayout.text))
            }
        }
    }

    func assemble(
        _ messages: [KafkaMessage], processors: [TopicPartition: PartitionProcessor],
        lastSnapshot: inout [TopicPartition: ContinuousClock.Instant], polledAt: ContinuousClock.Instant
    ) -> ComputedBatch {
        var offline = OfflineBatch(groupID: groupID)
        // About 160 bytes per feature row (names, times, offsets and a handful of values).
        offline.reserveFeatureRows(bytes: messages.count * (plans.values.map(\.plan.views.count).max() ?? 1) * 160)
        var newest: [PartitionNewest] = []
        var newestIndex: [TopicPartition: Int] = [:]
        var layouts: [String: [ViewLayout]] = [:]
        var deadLetters: [DeadLetter] = []
        var commitOffsets: [TopicPartition: Int64] = [:]
        var rows = FeatureRows()
        var processed = 0
        let now = EpochMillis.now()
        var views: [ViewLayout] = []
        var source = ""
        var sourceID: Int32 = 0
        // The partition of the previous message: Kafka hands out a partition's messages in runs,
        // so the lookups below happen once per run, not once per message.
        var current: (tp: TopicPartition, processor: PartitionProcessor, newest: Int)?
        // The next offset of the current run's partition, recorded when the run ends.
        var runNext: Int64?
        func endRun() {
            guard let tp = current?.tp, let next = runNext else { return }
            commitOffsets[tp] = max(commitOffsets[tp] ?? next, next)
            offline.advance(.init(topic: tp.topic, partition: tp.partition), to: next)
            runNext = nil
        }
        for message in messages {
            if current == nil || current!.tp.partition != message.partition || current!.tp.topic != message.topic {
                endRun()
                current = nil
                guard let topicPlan = plans[message.topic] else { continue }
                let tp = TopicPartition(topic: message.topic, partition: message.partition)
                guard let processor = processors[tp] else { continue }
                source = topicPlan.source
                sourceID = topicPlan.sourceID
                if layouts[message.topic] == nil {
                    layouts[message.topic] = topicPlan.plan.views.enumerated().map { v, view in
                        ViewLayout(
                            name: view.name, version: topicPlan.versions[v], numeric: view.numericFeatures, strings: view.stringFeatures,
                            offline: view.offlineEnabled, online: view.onlineEnabled, deadLetterTopic: view.deadLetterTopic)
                    }
                }
                views = layouts[message.topic]!
                let index: Int
                if let existing = newestIndex[tp] {
                    index = existing
                } else {
                    index = newest.count
                    newestIndex[tp] = index
                    newest.append(PartitionNewest(topic: message.topic, processor: processor, viewCount: views.count))
                }
                current = (tp, processor, index)
            }
            let (_, processor, newestAt) = current!
            rows.removeAll()
            let rejection = message.value.withUnsafeBytes { processor.process($0, rows: &rows) }
            offline.appendRawEvent(
                source: source, partition: message.partition, offset: message.offset, key: message.key,
                receivedMillis: now, payload: message.value)
            for row in rows {
                let view = views[row.view]
                if view.offline {
                    offline.appendFeatureRow(
                        view: view.name, entity: row.entity, eventTimeMillis: row.eventTimeMillis, createdMillis: now,
                        definitionVersion: view.version, sourceID: sourceID, partition: message.partition,
                        offset: message.offset, values: row.values, numeric: view.numeric, strings: view.strings)
                }
                if view.online { newest[newestAt].offer(row) }
            }
            if let rejection {
                let dlq = rejection.views.first.flatMap { name in views.first { $0.name == name }?.deadLetterTopic }
                    ?? views.first?.deadLetterTopic ?? "\(message.topic).dlq"
                deadLetters.append(DeadLetter(
                    topic: dlq, key: message.key, payload: message.value,
                    headers: [
                        ("capstan.reason", Array(rejection.reason.utf8)),
                        ("capstan.views", Array(rejection.views.joined(separator: ",").utf8)),
                        ("capstan.source", Array("\(message.topic)/\(message.partition)/\(message.offset)".utf8)),
                    ]))
            }
            if rejection == nil || rejection!.views.count < views.count { processed += 1 }
            runNext = message.offset + 1
        }
        endRun()
        for (tp, next) in commitOffsets {
            guard let processor = processors[tp] else { continue }
            if let last = lastSnapshot[tp], polledAt - last < snapshotInterval { continue }
            offline.addSnapshot(.init(topic: tp.topic, partition: tp.partition), planHash: processor.plan.planHash, nextOffset: next, state: processor.encodeSnapshot())
            lastSnapshot[tp] = polledAt
        }
        // One write per (topic, view): the partitions' newest rows together.
        var updatesByView: [String: [[OnlineUpdate]]] = [:]
        for partition in newest {
            var perView = updatesByView[partition.topic] ?? Array(repeating: [], count: partition.perView.count)
            for v in partition.perView.indices { perView[v] += partition.updates(view: v) }
            updatesByView[partition.topic] = perView
        }
        var online: [OnlineWrite] = []
        for (topic, perView) in updatesByView {
            guard let plan = plans[topic]?.plan else { continue }
            for (v, updates) in perView.enumerated() where !updates.isEmpty {
                let view = plan.views[v]
                online.append(OnlineWrite(view: view.name, features: view.features.map(\.name), ttlMillis: view.onlineTTLMillis, updates: updates))
            }
        }
        return ComputedBatch(
            offline: offline, online: online, deadLetters: deadLetters, events: messages.count, processedEvents: processed,
            commitOffsets: commitOffsets, polledAt: polledAt)
    }

    /// Computes a batch in one part per compute thread, split by partition (each partition's
    /// processor is used by exactly one part, and a partition's messages keep their order), then
    /// merges the parts.
    ///
    /// The parts run on `threads`, not on the cooperative pool: computing is CPU-bound and
    /// synchronous, and on the pool (one thread per core) it would keep the previous batch's
    /// Redis and PostgreSQL write tasks from being scheduled until it finished, serializing the
    /// pipeline. On threads of their own the OS time-slices them with the writes.
    func assembleSharded(
        _ messages: [KafkaMessage], processors: [TopicPartition: PartitionProcessor],
        lastSnapshot: inout [TopicPartition: ContinuousClock.Instant], polledAt: ContinuousClock.Instant,
        threads: [DedicatedThreadExecutor]
    ) async throws -> ComputedBatch {
        let shards = max(1, threads.count)
        var parts = [ShardWork](repeating: ShardWork(), count: shards)
        for message in messages { parts[Int(message.partition) % shards].messages.append(message) }
        for (tp, processor) in processors { parts[Int(tp.partition) % shards].processors[tp] = processor }
        for (tp, instant) in lastSnapshot { parts[Int(tp.partition) % shards].lastSnapshot[tp] = instant }
        let assembler = self
        let results = try await withThrowingTaskGroup(of: ShardWork.self) { group in
            for (i, part) in parts.enumerated() where !part.messages.isEmpty {
                group.addTask {
                    try await threads[i].run {
                        var part = part
                        part.result = assembler.assemble(part.messages, processors: part.processors, lastSnapshot: &part.lastSnapshot, polledAt: polledAt)
                        return part
                    }
                }
            }
            var done: [ShardWork] = []
            for try await part in group { done.append(part) }
            return done
        }
        var merged: ComputedBatch?
        for part in results {
            guard let result = part.result else { continue }
            for (tp, instant) in part.lastSnapshot { lastSnapshot[tp] = instant }
            if merged == nil {
                merged = result
            } else {
                merged!.offline.merge(result.offline)
                merged!.online += result.online
                merged!.deadLetters += result.deadLetters
                merged!.events += result.events
                merged!.processedEvents += result.processedEvents
                merged!.commitOffsets.merge(result.commitOffsets) { max($0, $1) }
            }
        }
        return merged ?? assemble([], processors: processors, lastSnapshot: &lastSnapshot, polledAt: polledAt)
    }
}

/// One shard of a batch: its messages, the processors of its partitions, and the result.
struct ShardWork: @unchecked Sendable {
    // @unchecked Sendable: the PartitionProcessors (classes) in a shard belong to that shard's
    // partitions only; the batch's shards are disjoint, so each processor is used by exactly
    // one task at a time, and the loop does not touch them until every shard has finished.
    var messages: [KafkaMessage] = []
    var processors: [TopicPartition: PartitionProcessor] = [:]
    var lastSnapshot: [TopicPartition: ContinuousClock.Instant] = [:]
    var result: ComputedBatch?
}
