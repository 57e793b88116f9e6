import CoreMetrics

/// Per model version: requests, errors and the latency histogram
/// `capstan_serving_request_duration_seconds{model,version}` (through swift-metrics; with the
/// Prometheus backend of CapstanTelemetry it shows as a histogram with p50/p95/p99 derivable).
/// Created once per version so the hot path only increments.
struct VersionMetrics: Sendable {
    let requests: Counter
    let errors: Counter
    let duration: Timer

    init(model: String, version: String) {
        let dimensions = [("model", model), ("version", version)]
        requests = Counter(label: "capstan_serving_requests_total", dimensions: dimensions)
        errors = Counter(label: "capstan_serving_errors_total", dimensions: dimensions)
        duration = Timer(label: "capstan_serving_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }
}

/// Gateway-wide counters.
struct GatewayCounters: Sendable {
    /// Requests rejected before a version was chosen, by model and reason (HTTP status).
    let rejected: @Sendable (String, Int) -> Void
    let predictionsDropped: Counter

    init() {
        rejected = { model, status in
            Counter(label: "capstan_gateway_rejected_total", dimensions: [("model", model), ("status", String(status))]).increment()
        }
        predictionsDropped = Counter(label: "capstan_gateway_predictions_dropped_total")
    }
}
