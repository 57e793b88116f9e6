import CapstanCore
import CapstanEmbedded
import CapstanTelemetry
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Operations endpoints", .timeLimit(.minutes(2)))
struct OpsServerTests {
    /// A plain HTTP/1.1 GET over a socket, on its own thread (blocking calls stay off the pool).
    static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        let thread = DedicatedThreadExecutor(name: "test.http")
        defer { thread.shutdown() }
        return try await thread.run {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { throw CapstanError(.connection, "cannot connect to 127.0.0.1:\(port)") }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                response += buffer[0..<n]
            }
            let text = String(decoding: response, as: UTF8.self)
            let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            return (status, body)
        }
    }

    @Test("/healthz is always 200, /readyz reports what is pending, /metrics renders recorded metrics")
    func endpoints() async throws {
        let registry = Telemetry.bootstrap()
        let readiness = Readiness()
        readiness.block("feature-worker", reason: "connecting to PostgreSQL")
        let port = try Loopback.freePort()
        let logger = Logger(label: "ops-test")
        let app = OpsServer.application(host: "127.0.0.1", port: port, registry: registry, readiness: readiness, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        let task = Task { try await group.run() }
        try await Loopback.waitUntilAccepting(port: port, timeout: .seconds(20), what: "ops server")

        #expect(try await Self.get(port: port, path: "/healthz").status == 200)
        let notReady = try await Self.get(port: port, path: "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.body.contains("feature-worker: connecting to PostgreSQL"))
        readiness.unblock("feature-worker")
        #expect(try await Self.get(port: port, path: "/readyz").status == 200)
        // A checked component is asked on every request.
        let syncing = Mutex(true)
        readiness.check("operator") { syncing.withLock { $0 } ? "caches not synced yet" : nil }
        let checked = try await Self.get(port: port, path: "/readyz")
        #expect(checked.status == 503 && checked.body.contains("operator: caches not synced yet"))
        syncing.withLock { $0 = false }
        #expect(try await Self.get(port: port, path: "/readyz").status == 200)

        Counter(label: "capstan_test_ops_total", dimensions: [("status", "ok")]).increment(by: 3)
        let metrics = try await Self.get(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains(#"capstan_test_ops_total{status="ok"} 3"#))

        await group.triggerGracefulShutdown()
        try await task.value
    }
}
