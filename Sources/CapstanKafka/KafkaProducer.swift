import CRdKafka
import CapstanCore
import Foundation
import Logging
import Synchronization

/// An idempotent Kafka producer (`enable.idempotence=true`).
///
/// Ordering: records with the same key go to the same partition (librdkafka's default
/// consistent-random partitioner), and idempotence keeps each partition in the order the records
/// were handed to `send`/`enqueue`, even across retries. Records from concurrent callers have no
/// order relative to each other.
///
/// A dedicated thread serves delivery reports (`rd_kafka_poll`) while the producer is open;
/// flushing, closing and waiting out a full local queue run on a second dedicated thread, never
/// on Swift's cooperative pool. Call `close()` when done.
public final class KafkaProducer: Sendable {
    private let core: ProducerCore
    private let context: ClientContext
    private let tracker: DeliveryTracker
    private let ops = DedicatedThreadExecutor(name: "capstan.kafka.producer")
    private let poller: DeliveryPoller
    private let logger: Logger

    /// Creates the producer and starts its delivery-report thread. Connecting happens in the
    /// background; unreachable brokers surface as delivery failures after `message.timeout.ms`.
    public init(config: KafkaConfig, logger: Logger) throws(CapstanError) {
        self.logger = logger
        tracker = DeliveryTracker()
        context = ClientContext(logger: logger, client: "producer", delivery: tracker)
        let conf = try config.makeConf(client: "producer", fixed: [("enable.idempotence", "true")])
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf, rdDeliveryCallback)
        let rk = try makeHandle(RD_KAFKA_PRODUCER, conf, client: "producer")
        core = ProducerCore(handle: RdHandle(pointer: rk))
        poller = DeliveryPoller(handle: RdHandle(pointer: rk))
    }

    deinit {
        // The ops thread outlives close() so that calls racing with it fail with `.closed`
        // instead of queueing work on a stopped thread. Without close(), nobody can be inside
        // send/enqueue (they retain self); the blocking teardown runs on the ops thread, not on
        // the thread that dropped the last reference.
        let (core, poller, context, logger) = (core, poller, context, logger)
        ops.shutdown {
            guard let handle = core.currentHandle else { return }
            withExtendedLifetime(context) {
                poller.stopAndWait()
                let pending = rd_kafka_outq_len(handle.pointer)
                if pending > 0 {
                    logger.info("Kafka producer dropped without close(); discarding \(pending) undelivered messages")
                }
                core.state.withLock { $0.handle = nil }
                rd_kafka_destroy(handle.pointer)
            }
        }
    }

    /// Messages acknowledged by the brokers so far.
    public var deliveredCount: Int { tracker.delivered.load(ordering: .relaxed) }
    /// Messages that failed permanently (after librdkafka's retries) so far.
    public var failedCount: Int { tracker.failed.load(ordering: .relaxed) }
    /// Calls to `send`/`enqueue` that found librdkafka's local queue full and had to wait.
    public var queueFullWaitCount: Int { tracker.queueFullWaits.load(ordering: .relaxed) }
    /// The most recent delivery failure or fatal producer error.
    public var lastError: CapstanError? { tracker.lastError }
    /// Messages handed to librdkafka that are not yet delivered or failed (plus pending events).
    public var inFlightCount: Int {
        core.state.withLock { state in state.handle.map { Int(rd_kafka_outq_len($0.pointer)) } ?? 0 }
    }

    /// Produces one record and waits for its delivery report.
    ///
    /// Throws a `CapstanError` carrying librdkafka's reason if the record could not be queued or
    /// was not delivered (the message timeout elapsed, the topic does not exist, ...).
    nonisolated(nonsending)
    public func send(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) async throws {
        let message = OutgoingMessage(topic: topic, key: key, value: value, headers: headers)
        let waiter = DeliveryWaiter()
        let opaque = Unmanaged.passRetained(waiter).toOpaque()
        do {
            try await submit(message, opaque: opaque)
        } catch {
            Unmanaged<DeliveryWaiter>.fromOpaque(opaque).release()
            throw error
        }
        try await waiter.wait()
    }

    /// Hands one record to librdkafka without waiting for delivery: the fast path for high-rate
    /// producers. Returns once the record is queued; if the local queue is full
    /// (`queue.buffering.max.messages`/`kbytes`), waits on the producer's thread until there is
    /// room. Delivery outcomes show up in `deliveredCount`, `failedCount` and `lastError`.
    nonisolated(nonsending)
    public func enqueue(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) async throws {
        try await submit(OutgoingMessage(topic: topic, key: key, value: value, headers: headers), opaque: nil)
    }

    /// Waits until every queued record is delivered or failed. Throws `.timeout` if records are
    /// still outstanding after `timeout`.
    public func flush(timeout: Duration) async throws {
        let core = self.core
        let millis = timeout.rdTimeoutMillis
        try await ops.run {
            // The handle stays valid: close() destroys it on this same serial thread.
            guard let handle = core.currentHandle else {
                throw CapstanError(.closed, "Kafka producer is closed")
            }
            let err = rd_kafka_flush(handle.pointer, millis)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw CapstanError(
                    .timeout,
                    "Kafka producer: \(rd_kafka_outq_len(handle.pointer)) messages still undelivered after flushing for \(millis) ms: \(errorText(err))")
            }
        }
    }

    /// Stops accepting records, delivers what is queued (up to `timeout`), fails the rest with
    /// a purge error, and destroys the client. Safe to call more than once.
    public func close(timeout: Duration = .seconds(30)) async {
        let first = core.state.withLock { state in
            defer { state.accepting = false }
            return state.accepting
        }
        guard first else { return }
        let (core, poller, logger) = (self.core, self.poller, self.logger)
        let millis = timeout.rdTimeoutMillis
        _ = try? await ops.run {
            guard let handle = core.currentHandle else { return }
            let rk = handle.pointer
            if rd_kafka_flush(rk, millis) != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.info("Kafka producer closing: purging \(rd_kafka_outq_len(rk)) undelivered messages")
                rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
                _ = rd_kafka_flush(rk, 1000)
            }
            poller.stopAndWait()
            _ = rd_kafka_poll(rk, 0)  // serve any report the poller left behind
            core.state.withLock { $0.handle = nil }
            rd_kafka_destroy(rk)
        }
    }

    /// Queues `message`, waiting on the producer's thread while the local queue is full.
    nonisolated(nonsending)
    private func submit(_ message: OutgoingMessage, opaque: UnsafeMutableRawPointer?) async throws {
        let core = self.core
        let (code, text) = try core.produceOnce(message, opaque)
        if code == RD_KAFKA_RESP_ERR_NO_ERROR { return }
        guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw Self.produceError(message, code, text) }
        tracker.queueFullWaits.add(1, ordering: .relaxed)
        let opaqueBits = opaque.map { UInt(bitPattern: $0) }
        try await ops.run {
            var delay = 1
            while true {
                usleep(UInt32(delay * 1000))
                let pointer = opaqueBits.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
                let (code, text) = try core.produceOnce(message, pointer)
                if code == RD_KAFKA_RESP_ERR_NO_ERROR { return }
                guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw Self.produceError(message, code, text) }
                delay = min(delay * 2, 50)
            }
        }
    }

    private static func produceError(_ message: OutgoingMessage, _ code: rd_kafka_resp_err_t, _ text: String?) -> CapstanError {
        CapstanError(
            .server,
            "Kafka producer: could not queue a record for topic '\(message.topic)': \(text ?? errorText(code)) (\(errorName(code)))")
    }
}

/// The producer's handle and whether it still accepts records, behind one lock.
final class ProducerCore: Sendable {
    struct State {
        var handle: RdHandle?
        var accepting = true
    }

    let state: Mutex<State>

    init(handle: RdHandle) {
        state = Mutex(State(handle: handle))
    }

    var currentHandle: RdHandle? { state.withLock { $0.handle } }

    func produceOnce(
        _ message: OutgoingMessage, _ opaque: UnsafeMutableRawPointer?
    ) throws(CapstanError) -> (rd_kafka_resp_err_t, String?) {
        // Produced under the lock so close() cannot destroy the handle mid-call;
        // rd_kafka_produceva never blocks (no RD_KAFKA_MSG_F_BLOCK).
        let result: (rd_kafka_resp_err_t, String?)? = state.withLock { state in
            guard state.accepting, let handle = state.handle else { return nil }
            return message.produce(on: handle.pointer, opaque: opaque)
        }
        guard let result else { throw CapstanError(.closed, "Kafka producer is closed") }
        return result
    }

}

/// The thread that serves delivery reports while a producer is open.
final class DeliveryPoller: Sendable {
    private let stop = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    init(handle: RdHandle) {
        let thread = Thread { [self] in
            while !stop.load(ordering: .acquiring) {
                _ = rd_kafka_poll(handle.pointer, 100)
            }
            stopped.signal()
        }
        thread.name = "capstan.kafka.producer.poll"
        thread.start()
    }

    /// Stops the thread and waits until it no longer uses the handle. Call at most once.
    func stopAndWait() {
        stop.store(true, ordering: .releasing)
        stopped.wait()
    }
}
