import CapstanKafka
import Metrics
import Synchronization

/// The prediction log consumer's Prometheus metrics and counts.
public final class PredictionLogMetrics: Sendable {
    let rows = Counter(label: "capstan_prediction_log_rows_total")
    private let rejectCounters: [PredictionReject.Kind: Counter] = Dictionary(
        uniqueKeysWithValues: PredictionReject.Kind.allCases.map { ($0, Counter(label: "capstan_prediction_log_rejects_total", dimensions: [("kind", $0.rawValue)])) })
    let skipped = Counter(label: "capstan_prediction_log_skipped_total")
    let batches = Counter(label: "capstan_prediction_log_batches_total")
    let writeRetries = Counter(label: "capstan_prediction_log_write_retries_total")
    let commitLatency = Timer(label: "capstan_prediction_log_commit_duration_seconds")
    private let lagGauges = Mutex<[TopicPartition: Gauge]>([:])
    private let totals = Mutex(Totals())

    public init() {}

    /// What this consumer stored since it started.
    public struct Totals: Sendable, Equatable {
        public var rows = 0
        public var rejects = 0
        public var skipped = 0
        public var batches = 0
    }

    public var current: Totals { totals.withLock { $0 } }

    func recordCommit(rows: Int, rejects: [PredictionReject], skipped: Int) {
        self.rows.increment(by: Int64(rows))
        for reject in rejects { rejectCounters[reject.kind]?.increment() }
        if skipped > 0 { self.skipped.increment(by: Int64(skipped)) }
        batches.increment()
        totals.withLock {
            $0.rows += rows
            $0.rejects += rejects.count
            $0.skipped += skipped
            $0.batches += 1
        }
    }

    func updateLag(_ lag: [TopicPartition: Int64]) {
        lagGauges.withLock { gauges in
            for (tp, value) in lag {
                let gauge = gauges[tp] ?? Gauge(label: "capstan_prediction_log_consumer_lag", dimensions: [("topic", tp.topic), ("partition", String(tp.partition))])
                gauges[tp] = gauge
                gauge.record(Double(value))
            }
        }
    }
}
