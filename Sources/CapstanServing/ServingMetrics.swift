import Metrics

/// Request metrics of one model server, through swift-metrics (Prometheus when the process
/// bootstrapped `Telemetry`): `capstan_model_server_requests_total{model,version,protocol,code}`
/// and the inference latency histogram `capstan_model_server_infer_duration_seconds{model,version,protocol}`.
///
/// The handles of the hot series (successful gRPC and REST calls, both latency histograms) are
/// made once, here: making a handle looks the series up in the backend by label and dimensions,
/// which per call cost more than the increment itself. Other codes are made when they occur.
/// (Like every swift-metrics handle, these must be made after `Telemetry.bootstrap()`.)
struct ServingMetrics: Sendable {
    let model: String
    let version: String
    private let grpcOK: Counter
    private let restOK: Counter
    private let grpcDuration: Metrics.Timer
    private let restDuration: Metrics.Timer

    init(model: String, version: String) {
        self.model = model
        self.version = version
        grpcOK = Self.counter(model, version, "grpc", "OK")
        restOK = Self.counter(model, version, "rest", "200")
        grpcDuration = Self.timer(model, version, "grpc")
        restDuration = Self.timer(model, version, "rest")
    }

    func record(protocol proto: String, code: String, inferDuration: Duration?) {
        switch (proto, code) {
        case ("grpc", "OK"): grpcOK.increment()
        case ("rest", "200"): restOK.increment()
        default: Self.counter(model, version, proto, code).increment()
        }
        if let inferDuration {
            switch proto {
            case "grpc": grpcDuration.record(duration: inferDuration)
            case "rest": restDuration.record(duration: inferDuration)
            default: Self.timer(model, version, proto).record(duration: inferDuration)
            }
        }
    }

    private static func counter(_ model: String, _ version: String, _ proto: String, _ code: String) -> Counter {
        Counter(
            label: "capstan_model_server_requests_total",
            dimensions: [("model", model), ("version", version), ("protocol", proto), ("code", code)])
    }

    private static func timer(_ model: String, _ version: String, _ proto: String) -> Metrics.Timer {
        Metrics.Timer(
            label: "capstan_model_server_infer_duration_seconds",
            dimensions: [("model", model), ("version", version), ("protocol", proto)])
    }
}
