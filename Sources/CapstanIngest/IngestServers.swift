import CapstanCore
import Hummingbird
import Logging
import ServiceLifecycle

/// The gateway's REST listener as a swift-service-lifecycle `Service` (the gRPC listener lives
/// in `capstan-ingest`, which links the HTTP/2 transport; `IngestGRPCService` is the service).
public enum IngestServers {
    /// The REST upload API.
    public static func http(ingestor: Ingestor, host: String, port: Int, logger: Logger) -> some Service {
        Application(
            router: IngestHTTP.router(ingestor: ingestor, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "capstan-ingest"),
            logger: logger)
    }
}
