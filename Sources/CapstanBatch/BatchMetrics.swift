import Metrics

/// The runner's metrics through swift-metrics (Prometheus when the program bootstraps it; see
/// `capstan batch schedule --watch --metrics-port`). Feed it the runner's progress events.
///
/// - `capstan_batch_runs_total{namespace,job,phase}`: runs finished, by phase.
/// - `capstan_batch_steps_total{namespace,job,step,state}`: attempts finished, by state
///   (`succeeded`, `failed`, `cached`, `cancelled`; `pending` = failed and to be retried).
/// - `capstan_batch_step_retries_total{namespace,job,step}`: attempts that will be retried.
/// - `capstan_batch_step_duration_seconds{namespace,job,step}`: an attempt's own time.
/// - `capstan_batch_queue_delay_seconds{namespace,job}`: from an item being ready (its
///   dependencies done or its backoff over) to its start — the scheduler's latency plus waiting
///   for a parallelism slot.
public struct BatchMetrics: Sendable {
    let namespace: String
    let job: String

    public init(namespace: String, job: String) {
        self.namespace = namespace
        self.job = job
    }

    public func observe(_ event: BatchProgress) {
        switch event {
        case .runFinished(let outcome):
            Counter(label: "capstan_batch_runs_total", dimensions: [("namespace", namespace), ("job", job), ("phase", outcome.phase.rawValue)]).increment()
        case .attemptStarted(_, _, _, let queuedFor):
            Timer(label: "capstan_batch_queue_delay_seconds", dimensions: [("namespace", namespace), ("job", job)]).recordNanoseconds(Self.nanoseconds(queuedFor))
        case .attemptFinished(let step, _, _, let state, _, let retryIn, let duration):
            let labels = [("namespace", namespace), ("job", job), ("step", step)]
            Counter(label: "capstan_batch_steps_total", dimensions: labels + [("state", state.rawValue)]).increment()
            if retryIn != nil { Counter(label: "capstan_batch_step_retries_total", dimensions: labels).increment() }
            if let duration { Timer(label: "capstan_batch_step_duration_seconds", dimensions: labels).recordNanoseconds(Self.nanoseconds(duration)) }
        case .runStarted, .stepExpanded:
            break
        }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}
