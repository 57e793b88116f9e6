import CRdKafka
import CapstanCore
import Synchronization

/// Delivery outcome counters of one producer, updated from librdkafka's delivery-report
/// callback on the producer's poll thread (or on whichever thread runs `rd_kafka_flush`).
final class DeliveryTracker: Sendable {
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let queueFullWaits = Atomic<Int>(0)
    private let last = Mutex<CapstanError?>(nil)

    var lastError: CapstanError? { last.withLock { $0 } }

    func recordError(_ error: CapstanError) {
        last.withLock { $0 = error }
    }
}

/// Hands the delivery report of one `send` to the task awaiting it. The report may arrive
/// before the task starts waiting, so the outcome is kept until `wait()` picks it up.
final class DeliveryWaiter: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Void, any Error>)
        case finished(Result<Void, CapstanError>)
        case consumed
    }

    private let state = Mutex<State>(.pending)

    func finish(_ result: Result<Void, CapstanError>) {
        let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
            switch state {
            case .pending:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .consumed
                return continuation
            case .finished, .consumed:
                return nil
            }
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, CapstanError>? = state.withLock { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .finished(let result):
                    state = .consumed
                    return result
                case .waiting, .consumed:
                    return .failure(CapstanError(.internal, "Kafka delivery report awaited twice"))
                }
            }
            if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
        }
    }
}

/// librdkafka's delivery-report callback (`dr_msg_cb`): called once per produced message.
func rdDeliveryCallback(_ rk: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?,
                        _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let context = ClientContext.from(opaque), let tracker = context.delivery else { return }
    let err = message.pointee.err
    var failure: CapstanError?
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        tracker.delivered.add(1, ordering: .relaxed)
    } else {
        tracker.failed.add(1, ordering: .relaxed)
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        var reason = String(cString: rd_kafka_message_errstr(message))
        if err == RD_KAFKA_RESP_ERR__FATAL, let rk { reason = fatalReason(rk) }
        let error = CapstanError(
            .server, "Kafka producer: delivery to topic '\(topic)' failed: \(reason) (\(errorName(err)))")
        tracker.recordError(error)
        failure = error
    }
    if let raw = message.pointee._private {
        let waiter = Unmanaged<DeliveryWaiter>.fromOpaque(raw).takeRetainedValue()
        waiter.finish(failure.map { .failure($0) } ?? .success(()))
    }
}
