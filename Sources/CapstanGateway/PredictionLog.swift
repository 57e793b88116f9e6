import CapstanCore
import CapstanKafka
import Logging
import Synchronization

/// One served prediction, as logged to the `predictions` topic.
public struct PredictionRecord: Sendable {
    public var requestID: String
    public var model: String
    public var version: String
    public var entity: String
    public var features: [Double]
    public var output: [Double]
    /// Names of features that were missing or invalid (filled with their default or NaN).
    public var missing: [String]
    public var timeMillis: Int64

    public init(
        requestID: String, model: String, version: String, entity: String, features: [Double], output: [Double], missing: [String],
        timeMillis: Int64
    ) {
        self.requestID = requestID
        self.model = model
        self.version = version
        self.entity = entity
        self.features = features
        self.output = output
        self.missing = missing
        self.timeMillis = timeMillis
    }

    /// One JSON object (`ts` in epoch ms; NaN as null), the Kafka record's value.
    public func json() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + 12 * (features.count + output.count) + entity.utf8.count)
        out.append(contentsOf: #"{"request_id":"#.utf8)
        JSONText.appendString(requestID, to: &out)
        out.append(contentsOf: #","model":"#.utf8)
        JSONText.appendString(model, to: &out)
        out.append(contentsOf: #","version":"#.utf8)
        JSONText.appendString(version, to: &out)
        out.append(contentsOf: #","entity":"#.utf8)
        JSONText.appendString(entity, to: &out)
        out.append(contentsOf: #","features":"#.utf8)
        JSONText.appendNumbers(features, to: &out)
        out.append(contentsOf: #","output":"#.utf8)
        JSONText.appendNumbers(output, to: &out)
        out.append(contentsOf: #","missing":["#.utf8)
        for (i, name) in missing.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(name, to: &out)
        }
        out.append(contentsOf: #"],"ts":"#.utf8)
        out.append(contentsOf: String(timeMillis).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Logs predictions to Kafka without ever holding up a response.
///
/// `record` puts the prediction in a bounded in-memory queue and returns at once; `run` moves
/// records from the queue to the Kafka producer. When Kafka is slower than the traffic (its
/// local queue full, brokers away), the queue fills and further records are dropped and
/// counted (`droppedCount`, metric `capstan_gateway_predictions_dropped_total`).
public final class PredictionLog: Sendable {
    public let topic: String
    public let capacity: Int
    private let producer: KafkaProducer
    private let stream: AsyncStream<PredictionRecord>
    private let continuation: AsyncStream<PredictionRecord>.Continuation
    private let dropped = Atomic<Int>(0)
    private let accepted = Atomic<Int>(0)
    private let handed = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let logger: Logger

    public init(producer: KafkaProducer, topic: String, capacity: Int, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.capacity = max(1, capacity)
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: PredictionRecord.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
    }

    /// Queues `record` for Kafka; never waits. Returns false when the queue was full and the
    /// record was dropped.
    @discardableResult
    public func record(_ record: PredictionRecord) -> Bool {
        switch continuation.yield(record) {
        case .enqueued:
            accepted.add(1, ordering: .relaxed)
            return true
        case .dropped, .terminated:
            dropped.add(1, ordering: .relaxed)
            return false
        @unknown default:
            dropped.add(1, ordering: .relaxed)
            return false
        }
    }

    /// Records dropped because the queue was full (or the log was finished).
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }
    /// Records accepted into the queue.
    public var acceptedCount: Int { accepted.load(ordering: .relaxed) }
    /// Records handed to the Kafka producer.
    public var handedToKafkaCount: Int { handed.load(ordering: .relaxed) }
    /// Records the producer refused (logged, not retried).
    public var failedCount: Int { failed.load(ordering: .relaxed) }

    /// Moves records to Kafka until `finish()` is called and the queue is drained (or the task
    /// is cancelled). Run it in one task for the log's lifetime.
    public func run() async {
        for await record in stream {
            do {
                try await producer.enqueue(topic: topic, key: Array(record.entity.utf8), value: record.json())
                handed.add(1, ordering: .relaxed)
            } catch {
                let count = failed.add(1, ordering: .relaxed).newValue
                if count == 1 || count % 1000 == 0 {
                    logger.warning("prediction log: Kafka refused a record", metadata: [
                        "kafka.topic": "\(topic)", "error": "\(error)", "prediction.failed": "\(count)",
                    ])
                }
            }
        }
    }

    /// Stops accepting records; `run` returns after handing over what is queued.
    public func finish() {
        continuation.finish()
    }
}

/// Minimal JSON writing for the hot path (no Foundation encoder, no intermediate strings).
enum JSONText {
    static func appendString(_ text: String, to out: inout [UInt8]) {
        JSONEscapes.appendQuoted(text, to: &out)
    }

    /// A number in shortest round-trip form; NaN and infinities as null.
    static func appendNumber(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            out.append(contentsOf: String(Int64(value)).utf8)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }

    static func appendNumbers(_ values: [Double], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendNumber(value, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }
}
