import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The operations endpoints every Capstan process serves: `/metrics` (Prometheus text format),
/// `/healthz` (the process is alive) and `/readyz` (200 only when `readiness` has nothing
/// pending; 503 with the reasons otherwise).
public enum OpsServer {
    /// A Hummingbird application (a swift-service-lifecycle `Service`) for a `ServiceGroup`.
    public static func application(
        host: String, port: Int, registry: PrometheusCollectorRegistry, readiness: Readiness, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in metricsResponse(registry) }
        router.get("/healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/readyz") { _, _ -> Response in
            if let reasons = readiness.reasons {
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                    body: .init(byteBuffer: ByteBuffer(string: "not ready\n\(reasons)\n")))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "capstan"),
            logger: logger)
    }

    /// The `/metrics` answer: `registry` in the Prometheus text format. Every server that serves
    /// `/metrics` on its own port (model servers, the gateway) answers with this.
    public static func metricsResponse(_ registry: PrometheusCollectorRegistry) -> Response {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}
