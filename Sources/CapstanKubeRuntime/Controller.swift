import CapstanKube
import Logging
import Metrics
import Synchronization

/// Runs one kind's reconciles: workers take keys from the ``WorkQueue``, call the reconcile
/// function, and route its result or error through the ``ErrorPolicy``. A success that asks
/// for `requeue(after:)` comes back after that delay, whatever else happens.
final class Controller: Sendable {
    let kind: String
    let queue = WorkQueue()
    let reconcile: @Sendable (String) async throws -> ReconcileResult
    let policy: ErrorPolicy
    let stats: ReconcileStats
    let logger: Logger
    private let failures = Mutex<[String: Int]>([:])
    private let timer: Metrics.Timer
    private let errorCounter: Counter
    private let depthGauge: Gauge

    init(kind: String, policy: ErrorPolicy = ErrorPolicy(), stats: ReconcileStats, logger: Logger, reconcile: @escaping @Sendable (String) async throws -> ReconcileResult) {
        self.kind = kind
        self.policy = policy
        self.stats = stats
        self.logger = logger
        self.reconcile = reconcile
        timer = Metrics.Timer(label: "capstan_operator_reconcile_duration_seconds", dimensions: [("kind", kind)], preferredDisplayUnit: .seconds)
        errorCounter = Counter(label: "capstan_operator_reconcile_errors_total", dimensions: [("kind", kind)])
        depthGauge = Gauge(label: "capstan_operator_queue_depth", dimensions: [("kind", kind)])
    }

    /// Runs `workers` concurrent reconcile loops until the task is cancelled.
    func run(workers: Int) async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<max(1, workers) {
                    group.addTask { await self.workerLoop() }
                }
            }
        } onCancel: {
            queue.shutDown()
        }
    }

    private func workerLoop() async {
        while let key = await queue.next() {
            depthGauge.record(queue.depth)
            let start = ContinuousClock.now
            do {
                let result = try await reconcile(key)
                failures.withLock { _ = $0.removeValue(forKey: key) }
                if case .requeue(let delay) = result { queue.add(key, after: delay) }
            } catch {
                let count = failures.withLock { failures -> Int in
                    failures[key, default: 0] += 1
                    return failures[key]!
                }
                switch policy.decide(error, failures: count) {
                case .retry(let delay):
                    logger.debug(
                        "reconcile failed; retrying",
                        metadata: ["operator.kind": "\(kind)", "operator.key": "\(key)", "operator.failures": "\(count)", "error": "\(error)", "operator.retry_ms": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)"])
                    queue.add(key, after: delay)
                case .terminal:
                    logger.error("reconcile failed; not retrying until the resource changes", metadata: ["operator.kind": "\(kind)", "operator.key": "\(key)", "error": "\(error)"])
                }
                stats.recordError()
                errorCounter.increment()
            }
            let elapsed = ContinuousClock.now - start
            stats.record(elapsed)
            timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            queue.done(key)
        }
    }
}

/// Reconcile durations and counts, for the metrics endpoint and the benchmark.
public final class ReconcileStats: Sendable {
    private struct State {
        var durations: [Float] = []
        var count = 0
        var errors = 0
    }

    private let state = Mutex(State())

    public init() {}

    func record(_ duration: Duration) {
        let ms = Float(duration / .milliseconds(1))
        state.withLock { state in
            state.count += 1
            if state.durations.count < 2_000_000 { state.durations.append(ms) }
        }
    }

    func recordError() { state.withLock { $0.errors += 1 } }

    public var count: Int { state.withLock { $0.count } }
    public var errors: Int { state.withLock { $0.errors } }

    /// The `q` quantile (0...1) of the reconcile durations, in milliseconds.
    public func quantile(_ q: Double) -> Double {
        let sorted = state.withLock { $0.durations }.sorted()
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)
        return Double(sorted[max(0, index)])
    }

    public func reset() { state.withLock { $0 = State() } }
}
