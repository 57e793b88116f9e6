import CRdKafka
import Synchronization

/// A rebalance callback as librdkafka reported it.
enum RecordedRebalance: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
    /// The assignment was lost through an error; treated as a revocation of everything owned.
    case lost(String)
}

/// Collects rebalance callbacks for `KafkaConsumer.poll` to return.
///
/// The callback never waits for the application: it records the event and returns, leaving
/// librdkafka's group state machine waiting for the `rd_kafka_assign` call that
/// `completeAssignment`/`completeRevocation` make later. While the consumer is closing, the
/// callback completes events itself so that `rd_kafka_consumer_close` can leave the group.
final class RebalanceRecorder: Sendable {
    private struct State {
        var events: [RecordedRebalance] = []
        var closing = false
    }

    private let state = Mutex(State())

    func drain() -> [RecordedRebalance] {
        state.withLock { state in
            defer { state.events.removeAll() }
            return state.events
        }
    }

    var hasPending: Bool { state.withLock { !$0.events.isEmpty } }

    func beginClosing() {
        state.withLock { $0.closing = true }
    }

    /// Records an event, or returns false if the consumer is closing (caller completes it).
    fileprivate func record(_ event: RecordedRebalance) -> Bool {
        state.withLock { state in
            guard !state.closing else { return false }
            state.events.append(event)
            return true
        }
    }
}

/// librdkafka's `rebalance_cb`. Runs on the thread that polls the consumer (the consumer's
/// dedicated thread, or the one running `rd_kafka_consumer_close`).
func rdRebalanceCallback(_ rk: OpaquePointer?, _ err: rd_kafka_resp_err_t,
                         _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
                         _ opaque: UnsafeMutableRawPointer?) {
    guard let rk, let context = ClientContext.from(opaque), let recorder = context.rebalance else { return }
    let tps = [TopicPartition](copying: partitions)
    let event: RecordedRebalance
    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: event = .assigned(tps)
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: event = .revoked(tps)
    default: event = .lost(errorText(err))
    }
    context.logger.debug(
        "Kafka consumer rebalance callback", metadata: ["kafka.event": "\(event)", "kafka.partitions": "\(tps)"])
    if recorder.record(event) {
        // Make the current rd_kafka_consumer_poll return so poll() can surface the event.
        rd_kafka_yield(rk)
    } else {
        _ = rd_kafka_assign(rk, nil)
    }
}
