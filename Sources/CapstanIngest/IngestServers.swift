import CapstanCore
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import Logging
import ServiceLifecycle

/// The gateway's listeners as swift-service-lifecycle `Service`s.
public enum IngestServers {
    /// The REST upload API.
    public static func http(ingestor: Ingestor, host: String, port: Int, logger: Logger) -> some Service {
        Application(
            router: IngestHTTP.router(ingestor: ingestor, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "capstan-ingest"),
            logger: logger)
    }

    /// The gRPC upload API (plaintext HTTP/2; put TLS in front, as for the REST API).
    public static func grpc(ingestor: Ingestor, host: String, port: Int, logger: Logger) -> GRPCService {
        GRPCService(server: GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext,
                                      config: .defaults { $0.rpc.maxRequestPayloadSize = 8 << 20 }),
            services: [IngestGRPCService(ingestor: ingestor, logger: logger)]))
    }

    /// Runs a `GRPCServer` until graceful shutdown.
    public struct GRPCService: Service {
        public let server: GRPCServer<HTTP2ServerTransport.Posix>

        public func run() async throws {
            try await withGracefulShutdownHandler {
                try await server.serve()
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        }

        /// The bound port once listening.
        public func port() async throws -> Int? {
            guard let address = try await server.listeningAddress?.ipv4 else { return nil }
            return address.port
        }
    }
}
