import CapstanIngest
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// The gRPC listener (plaintext HTTP/2; put TLS in front, as for the REST API).
enum IngestGRPCServer {
    static func service(ingestor: Ingestor, host: String, port: Int, logger: Logger) -> GRPCService {
        GRPCService(server: GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext,
                                      config: .defaults { $0.rpc.maxRequestPayloadSize = 8 << 20 }),
            services: [IngestGRPCService(ingestor: ingestor, logger: logger)]))
    }

    /// Runs a `GRPCServer` until graceful shutdown.
    struct GRPCService: Service {
        let server: GRPCServer<HTTP2ServerTransport.Posix>

        func run() async throws {
            try await withGracefulShutdownHandler {
                try await server.serve()
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        }
    }
}
