import CRdKafka
import CapstanCore
import Logging
import Synchronization

/// A consumer-group member that reads in batches and lets the application drive assignment.
///
/// Settings it relies on: `enable.auto.commit=false` (commit with `commit(_:)`),
/// `enable.auto.offset.store=false`, and an eager assignment strategy (`range,roundrobin` by
/// default; `cooperative-sticky` is rejected).
///
/// Rebalancing: `poll` returns `RebalanceEvent`s; the group waits until the application
/// completes each one. On `.assigned`, restore state and call `completeAssignment` with the
/// offsets to start from; on `.revoked`, make work durable, `commit`, then call
/// `completeRevocation`. Keep calling `poll` within `max.poll.interval.ms` (default 5 min).
///
/// Ordering: records of one partition arrive in offset order, each at most once per
/// assignment; there is no order across partitions. After a revocation no record of the
/// revoked partitions is returned (not even later in the same batch) until they are assigned
/// again, starting at the offset given to `completeAssignment` (or the committed offset), so
/// delivery is at-least-once from the last commit.
///
/// All librdkafka calls run on the consumer's dedicated thread. Call `close()` when done.
public actor KafkaConsumer {
    private enum Awaiting { case nothing, assignment, revocation }

    private let thread = DedicatedThreadExecutor(name: "capstan.kafka.consumer")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    private let rkBox = HandleBox()
    private var rk: OpaquePointer? {
        get { rkBox.pointer }
        set { rkBox.pointer = newValue }
    }
    private let context: ClientContext
    private let recorder: RebalanceRecorder
    private let logger: Logger
    private let groupID: String
    private var awaiting = Awaiting.nothing
    /// Partitions assigned and completed: the only ones whose records `poll` returns.
    private var active: Set<TopicPartition> = []
    /// Next offset to process per active partition, when known (for lag).
    private var nextOffsets: [TopicPartition: Int64] = [:]
    private let lagCache = Mutex<[TopicPartition: Int64]>([:])

    /// Creates the consumer and subscribes to `topics`. Joining the group happens during `poll`.
    public init(config: KafkaConfig, groupID: String, topics: [String], logger: Logger) throws(CapstanError) {
        guard !topics.isEmpty else { throw CapstanError(.invalidArgument, "Kafka consumer: no topics to subscribe to") }
        if let strategy = config.properties["partition.assignment.strategy"], strategy.contains("cooperative") {
            throw CapstanError(
                .invalidArgument,
                "Kafka consumer: partition.assignment.strategy '\(strategy)' is incremental; use range and/or roundrobin")
        }
        var logger = logger
        logger[metadataKey: "kafka.group"] = "\(groupID)"
        self.logger = logger
        self.groupID = groupID
        recorder = RebalanceRecorder()
        context = ClientContext(logger: logger, client: "consumer", rebalance: recorder)
        var fixed = [
            ("group.id", groupID), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
        ]
        if config.properties["partition.assignment.strategy"] == nil {
            fixed.append(("partition.assignment.strategy", "range,roundrobin"))
        }
        let conf = try config.makeConf(client: "consumer", fixed: fixed)
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf, rdRebalanceCallback)
        let rk = try makeHandle(RD_KAFKA_CONSUMER, conf, client: "consumer")
        _ = rd_kafka_poll_set_consumer(rk)
        let list = makePartitionList(topics.map { (TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), 0) })
        let err = rd_kafka_subscribe(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(rk)
            throw CapstanError(.invalidArgument, "Kafka consumer: could not subscribe to \(topics): \(errorText(err))")
        }
        rkBox.pointer = rk
    }

    deinit {
        // Only does work without close(). No other reference exists, so the handle is ours (see
        // HandleBox). Leaving the group blocks (up to session.timeout.ms), so it happens on the
        // consumer's own thread, never on the thread that dropped the last reference.
        let (box, recorder, context) = (rkBox, recorder, context)
        thread.shutdown {
            guard let rk = box.pointer else { return }
            withExtendedLifetime(context) { _ = Self.leaveAndDestroy(rk, recorder: recorder, unassign: true) }
            box.pointer = nil
        }
    }

    /// Waits up to `timeout` for records and rebalance events and returns up to `maxMessages`
    /// records. Returns early when a rebalance event occurs.
    ///
    /// Once a record has arrived, the poll keeps collecting for up to `fill` more while fewer
    /// than `maxMessages` are in hand (zero: return as soon as nothing more is buffered locally).
    /// A consumer that processes in batches gets fuller batches from a short `fill`: the local
    /// queue runs dry between fetch responses long before a backlog is consumed.
    public func poll(maxMessages: Int, timeout: Duration, fill: Duration = .zero) throws -> PollResult {
        let rk = try handle()
        guard maxMessages > 0 else {
            throw CapstanError(.invalidArgument, "Kafka consumer: maxMessages must be positive, got \(maxMessages)")
        }
        var result = PollResult()
        let deadline = ContinuousClock.now + timeout
        var fillDeadline: ContinuousClock.Instant?
        while result.messages.count < maxMessages {
            let until = fillDeadline ?? deadline
            let wait = max(.zero, until - .now).rdTimeoutMillis
            let message = rd_kafka_consumer_poll(rk, wait)
            defer { if let message { rd_kafka_message_destroy(message) } }
            applyRebalanceEvents(into: &result)
            if let message {
                try accept(message, into: &result)
                if fillDeadline == nil, !result.messages.isEmpty { fillDeadline = .now + fill }
            }
            if !result.rebalance.isEmpty || (message == nil && (wait == 0 || ContinuousClock.now >= until)) {
                break
            }
        }
        refreshLag(rk)
        return result
    }

    /// Completes an `.assigned` event: starts fetching each partition at the given next offset
    /// (`nil` = the group's committed offset, or `auto.offset.reset` if there is none).
    public func completeAssignment(_ partitions: [TopicPartition: Int64?]) throws {
        let rk = try handle()
        guard awaiting == .assignment else {
            throw CapstanError(.conflict, "Kafka consumer: completeAssignment called without a pending assigned event")
        }
        let entries = partitions.map { ($0.key, $0.value ?? Int64(RD_KAFKA_OFFSET_INVALID)) }
        let list = makePartitionList(entries)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw CapstanError(.server, "Kafka consumer: assigning \(partitions.keys.sorted(by: Self.order)) failed: \(errorText(err))")
        }
        awaiting = .nothing
        active = Set(partitions.keys)
        nextOffsets = partitions.compactMapValues { $0 }
        let unknown = partitions.filter { $0.value == nil }.map { ($0.key, Int64(RD_KAFKA_OFFSET_INVALID)) }
        if !unknown.isEmpty { learnCommittedOffsets(rk, unknown) }
        logger.info("Kafka consumer assigned partitions", metadata: ["kafka.partitions": "\(active.sorted(by: Self.order))"])
        refreshLag(rk)
    }

    /// Completes a `.revoked` event, after the caller made its work durable and committed.
    public func completeRevocation() throws {
        let rk = try handle()
        guard awaiting == .revocation else {
            throw CapstanError(.conflict, "Kafka consumer: completeRevocation called without a pending revoked event")
        }
        let err = rd_kafka_assign(rk, nil)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw CapstanError(.server, "Kafka consumer: unassigning failed: \(errorText(err))")
        }
        awaiting = .nothing
        refreshLag(rk)
    }

    /// Commits next offsets (offset of the last processed record + 1) and waits up to
    /// `timeout` for the group coordinator's answer.
    ///
    /// Throws `.conflict` if the group does not accept the commit because it is rebalancing or
    /// this member was removed: nothing is stored, the caller should keep polling (a revocation
    /// follows) and expect the next owner to re-process records since the previous commit. A real
    /// broker accepts commits between a `.revoked` event and `completeRevocation`; librdkafka
    /// 2.0.2's mock cluster rejects every commit once a rebalance has started. Throws `.timeout`
    /// when no answer came in time (a commit waiting for a coordinator is answered only after
    /// `session.timeout.ms`); the commit may still land later.
    public func commit(_ offsets: [TopicPartition: Int64], timeout: Duration = .seconds(10)) throws {
        let rk = try handle()
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        // The answer comes as an event on a queue of this call's own, which is polled with a
        // deadline: a synchronous rd_kafka_commit would block this consumer's thread (and with
        // it every poll) for as long as the coordinator takes.
        guard let queue = rd_kafka_queue_new(rk) else {
            throw CapstanError(.server, "Kafka consumer: could not create a queue for an offset commit")
        }
        defer { rd_kafka_queue_destroy(queue) }
        var err = rd_kafka_commit_queue(rk, list, queue, nil, nil)
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            guard let event = rd_kafka_queue_poll(queue, timeout.rdTimeoutMillis) else {
                throw CapstanError(
                    .timeout,
                    "Kafka consumer: group '\(groupID)' did not answer an offset commit within \(timeout); it may still be stored later")
            }
            defer { rd_kafka_event_destroy(event) }
            err = rd_kafka_event_error(event)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR, let committed = rd_kafka_event_topic_partition_list(event),
               let elements = committed.pointee.elems {
                err = (0..<Int(committed.pointee.cnt)).map { elements[$0].err }.first { $0 != RD_KAFKA_RESP_ERR_NO_ERROR }
                    ?? RD_KAFKA_RESP_ERR_NO_ERROR
            }
        }
        switch err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
             RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
            throw CapstanError(
                .conflict,
                "Kafka consumer: group '\(groupID)' is rebalancing or this member left it, so the commit was not stored (\(errorName(err))); keep polling: the partitions' next owner resumes from the previous commit")
        default:
            throw CapstanError(
                .server, "Kafka consumer: committing offsets for group '\(groupID)' failed: \(errorText(err))")
        }
    }

    /// Consumer lag per owned partition (high watermark minus next offset to process), from
    /// values cached at the last `poll`. Partitions whose position is not known yet are absent.
    public nonisolated func lag() -> [TopicPartition: Int64] {
        lagCache.withLock { $0 }
    }

    /// Leaves the group (completing any pending rebalance internally) and destroys the client.
    /// Later calls throw `.closed`.
    public func close() {
        guard let rk else { return }
        let err = Self.leaveAndDestroy(rk, recorder: recorder, unassign: awaiting != .nothing || recorder.hasPending)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.info("Kafka consumer close reported an error", metadata: ["kafka.error": "\(errorText(err))"])
        }
        self.rk = nil
        active = []
        lagCache.withLock { $0 = [:] }
    }

    // MARK: - Internals

    /// Leaves the group, completing any pending rebalance (`unassign`) and the revocation that
    /// closing itself triggers (the callback does it once `recorder` is closing), then destroys
    /// the handle. Blocks up to about `session.timeout.ms`.
    private static func leaveAndDestroy(_ rk: OpaquePointer, recorder: RebalanceRecorder, unassign: Bool) -> rd_kafka_resp_err_t {
        recorder.beginClosing()
        if unassign { _ = rd_kafka_assign(rk, nil) }
        let err = rd_kafka_consumer_close(rk)
        rd_kafka_destroy(rk)
        return err
    }

    private func handle() throws(CapstanError) -> OpaquePointer {
        guard let rk else { throw CapstanError(.closed, "Kafka consumer for group '\(groupID)' is closed") }
        return rk
    }

    private func applyRebalanceEvents(into result: inout PollResult) {
        for event in recorder.drain() {
            switch event {
            case .assigned(let partitions):
                awaiting = .assignment
                result.rebalance.append(.assigned(partitions))
            case .revoked(let partitions):
                revoke(partitions, into: &result)
            case .lost(let reason):
                logger.info("Kafka consumer lost its assignment", metadata: ["kafka.reason": "\(reason)"])
                revoke(active.sorted(by: Self.order), into: &result)
            }
        }
    }

    private func revoke(_ partitions: [TopicPartition], into result: inout PollResult) {
        awaiting = .revocation
        let revoked = Set(partitions)
        active.subtract(revoked)
        for tp in revoked { nextOffsets[tp] = nil }
        result.messages.removeAll { revoked.contains($0.topicPartition) }
        result.rebalance.append(.revoked(partitions))
    }

    private func accept(_ message: UnsafeMutablePointer<rd_kafka_message_t>, into result: inout PollResult) throws {
        let err = message.pointee.err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            try handleMessageError(message, err)
            return
        }
        let tp = TopicPartition(
            topic: message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: message.pointee.partition)
        guard active.contains(tp) else { return }
        let record = KafkaMessage(copying: message)
        nextOffsets[tp] = record.offset + 1
        result.messages.append(record)
    }

    private func handleMessageError(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ err: rd_kafka_resp_err_t) throws {
        switch err {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            return
        case RD_KAFKA_RESP_ERR__FATAL:
            throw CapstanError(.server, "Kafka consumer (group '\(groupID)'): fatal error: \(fatalReason(rk!))")
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
            throw CapstanError(
                .server,
                "Kafka consumer (group '\(groupID)'): \(String(cString: rd_kafka_message_errstr(message))) (\(errorName(err))); check the credentials and ACLs")
        default:
            logger.info(
                "Kafka consumer skipped an error event",
                metadata: ["kafka.error": "\(errorName(err))", "kafka.reason": "\(String(cString: rd_kafka_message_errstr(message)))"])
        }
    }

    /// Looks up committed offsets once per assignment so lag is known before the first record.
    private func learnCommittedOffsets(_ rk: OpaquePointer, _ entries: [(TopicPartition, Int64)]) {
        let list = makePartitionList(entries)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_committed(rk, list, 10_000) == RD_KAFKA_RESP_ERR_NO_ERROR, let elements = list.pointee.elems else {
            return
        }
        for index in 0..<Int(list.pointee.cnt) where elements[index].offset >= 0 {
            let tp = TopicPartition(topic: String(cString: elements[index].topic), partition: elements[index].partition)
            if nextOffsets[tp] == nil { nextOffsets[tp] = elements[index].offset }
        }
    }

    private func refreshLag(_ rk: OpaquePointer) {
        var lags: [TopicPartition: Int64] = [:]
        for tp in active {
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  high >= 0, let next = nextOffsets[tp]
            else { continue }
            lags[tp] = max(0, high - next)
        }
        lagCache.withLock { $0 = lags }
    }

    private static func order(_ a: TopicPartition, _ b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

extension KafkaConsumer {
    /// Completes rebalance events for a reader that needs no state restore: assigned partitions
    /// start at `offset` (nil = the group's committed offset or auto.offset.reset). Returns
    /// whether anything was assigned.
    @discardableResult
    public func completeRebalance(_ events: [RebalanceEvent], startingAt offset: Int64?) throws -> Bool {
        var assigned = false
        for event in events {
            switch event {
            case .assigned(let partitions):
                try completeAssignment(Dictionary(uniqueKeysWithValues: partitions.map { ($0, offset) }))
                assigned = true
            case .revoked:
                try completeRevocation()
            }
        }
        return assigned
    }
}
