import CapstanCore
import Hummingbird
import Logging
import ServiceLifecycle

/// The gateway's REST listener as a swift-service-lifecycle `Service` (the gRPC listener lives
/// in `capstan-ingest`, which links the HTTP/2 transport; `IngestGRPCService` is the service).
public enum IngestServers {
    /// The REST upload API; `mount` adds further routes to the same listener (`capstan-ingest`
    /// mounts the offline API: training sets, backfills, lineage).
    public static func http(
        ingestor: Ingestor, host: String, port: Int, logger: Logger,
        mount: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some Service {
        let router = IngestHTTP.router(ingestor: ingestor, logger: logger)
        mount(router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "capstan-ingest"),
            logger: logger)
    }
}
