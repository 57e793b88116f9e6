import Metrics

/// Request metrics of one model server, through swift-metrics (Prometheus when the process
/// bootstrapped `Telemetry`): `capstan_model_server_requests_total{model,version,protocol,code}`
/// and the inference latency histogram `capstan_model_server_infer_duration_seconds{model,version,protocol}`.
struct ServingMetrics: Sendable {
    let model: String
    let version: String

    func record(protocol proto: String, code: String, inferDuration: Duration?) {
        Counter(
            label: "capstan_model_server_requests_total",
            dimensions: [("model", model), ("version", version), ("protocol", proto), ("code", code)]
        ).increment()
        if let inferDuration {
            Metrics.Timer(
                label: "capstan_model_server_infer_duration_seconds",
                dimensions: [("model", model), ("version", version), ("protocol", proto)]
            ).record(duration: inferDuration)
        }
    }
}
