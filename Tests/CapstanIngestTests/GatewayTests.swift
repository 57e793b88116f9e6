import CapstanCore
import CapstanEmbedded
import CapstanIngest
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Testing

@Suite("Ingestion gateway: REST and gRPC servers, auth and limits", .serialized, .timeLimit(.minutes(5)))
struct GatewayTests {
    /// Runs the REST and gRPC servers of `gw` while `body` runs.
    func serving(_ gw: TestGateway, _ body: (_ http: Int, _ grpc: Int) async throws -> Void) async throws {
        let httpPort = try Loopback.freePort()
        let grpcPort = try Loopback.freePort()
        let logger = Logger(label: "gateway-test")
        let http = IngestServers.http(ingestor: gw.ingestor, host: "127.0.0.1", port: httpPort, logger: logger)
        let grpc = TestGRPCServer(server: GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext),
            services: [IngestGRPCService(ingestor: gw.ingestor, logger: logger)]))
        let group = ServiceGroup(configuration: .init(services: [http, grpc], logger: logger))
        let task = Task { try await group.run() }
        try await Loopback.waitUntilAccepting(port: httpPort, timeout: .seconds(20), what: "ingest REST")
        try await Loopback.waitUntilAccepting(port: grpcPort, timeout: .seconds(20), what: "ingest gRPC")
        do {
            try await body(httpPort, grpcPort)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    static func chunks(_ bytes: [UInt8], size: Int = 700) -> @Sendable () -> [UInt8]? {
        let state = ChunkState(bytes: bytes, size: size)
        return { state.next() }
    }

    @Test("REST upload streams the file; re-upload is a duplicate; results are readable by id")
    func restUpload() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        try await serving(gw) { http, _ in
            let csv = Array(TestData.csv(TestData.events(count: 500, seed: 5)).utf8)
            let client = UploadClient(server: "http://127.0.0.1:\(http)")
            let request = UploadRequest(view: gw.view, format: .csv)
            let response = try await client.upload(request, next: Self.chunks(csv))
            #expect(response.status == 201)
            let result = try UploadClient.decode(response)
            #expect(result.accepted == 500 && !result.duplicate)
            let again = try UploadClient.decode(try await client.upload(request, next: Self.chunks(csv)))
            #expect(again.duplicate && again.uploadID == result.uploadID)
            #expect(try await gw.count("capstan_feature_rows") == 500)
            // Unknown view and missing format are client errors.
            let unknown = try await client.upload(UploadRequest(view: "nope", format: .csv), next: Self.chunks(csv))
            #expect(unknown.status == 404)
        }
    }

    @Test("gRPC client-streaming upload gives the same rows as REST")
    func grpcUpload() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        try await serving(gw) { _, grpcPort in
            let events = TestData.events(count: 450, seed: 21)
            let content = Array(TestData.jsonl(events).utf8)
            try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)) { client in
                let ingest = Capstan_Ingest_V1_IngestService.Client(wrapping: client)
                let reply = try await ingest.upload(request: StreamingClientRequest { writer in
                    var header = Capstan_Ingest_V1_UploadHeader()
                    header.view = gw.view
                    header.format = .jsonl
                    var first = Capstan_Ingest_V1_UploadChunk()
                    first.header = header
                    try await writer.write(first)
                    var offset = 0
                    while offset < content.count {
                        var chunk = Capstan_Ingest_V1_UploadChunk()
                        chunk.data = Data(content[offset..<min(offset + 1000, content.count)])
                        try await writer.write(chunk)
                        offset += 1000
                    }
                })
                #expect(reply.accepted == 450 && reply.rejected == 0)
                let fetched = try await ingest.getUpload(Capstan_Ingest_V1_GetUploadRequest.with { $0.uploadID = reply.uploadID })
                #expect(fetched.accepted == 450 && fetched.contentSha256 == reply.contentSha256)
            }
            let reference = try gw.reference(events.enumerated().map { (Int64($0.offset + 1), TestData.json($0.element)) })
            #expect(try await gw.storedRows() == reference.rows)
        }
    }

    @Test("uploads over the size limit are refused and store nothing")
    func sizeLimit() async throws {
        let gw = try await TestGateway.make { $0.maxUploadBytes = 20_000 }
        defer { Task { await gw.close() } }
        try await serving(gw) { http, _ in
            let big = Array(TestData.csv(TestData.events(count: 2000, seed: 8)).utf8)
            #expect(big.count > 20_000)
            let client = UploadClient(server: "http://127.0.0.1:\(http)")
            let response = try await client.upload(UploadRequest(view: gw.view, format: .csv), next: Self.chunks(big, size: 4096))
            #expect(response.status == 413)
            #expect(try await gw.count("capstan_feature_rows") == 0)
            #expect(try await gw.count("capstan_uploads") == 0)
            let small = Array(TestData.csv(TestData.events(count: 20, seed: 8)).utf8)
            #expect(try await client.upload(UploadRequest(view: gw.view, format: .csv), next: Self.chunks(small)).status == 201)
        }
    }

    @Test("a configured bearer token is required on REST and gRPC")
    func bearerToken() async throws {
        let gw = try await TestGateway.make { $0.bearerToken = "s3cret" }
        defer { Task { await gw.close() } }
        try await serving(gw) { http, grpcPort in
            let csv = Array(TestData.csv(TestData.events(count: 30, seed: 2)).utf8)
            let request = UploadRequest(view: gw.view, format: .csv)
            let anonymous = try await UploadClient(server: "http://127.0.0.1:\(http)").upload(request, next: Self.chunks(csv))
            #expect(anonymous.status == 401)
            let wrong = try await UploadClient(server: "http://127.0.0.1:\(http)", token: "guess").upload(request, next: Self.chunks(csv))
            #expect(wrong.status == 401)
            #expect(try await gw.count("capstan_feature_rows") == 0)
            let right = try await UploadClient(server: "http://127.0.0.1:\(http)", token: "s3cret").upload(request, next: Self.chunks(csv))
            #expect(right.status == 201)
            try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)) { client in
                let ingest = Capstan_Ingest_V1_IngestService.Client(wrapping: client)
                await #expect(throws: RPCError.self) {
                    _ = try await ingest.getUpload(Capstan_Ingest_V1_GetUploadRequest.with { $0.uploadID = "x" })
                }
                var metadata = Metadata()
                metadata.addString("Bearer s3cret", forKey: "authorization")
                do {
                    _ = try await ingest.getUpload(Capstan_Ingest_V1_GetUploadRequest.with { $0.uploadID = "missing" }, metadata: metadata)
                    Issue.record("expected notFound")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                }
            }
        }
    }
}

/// Hands out a byte array in chunks to the upload client's thread.
final class ChunkState: @unchecked Sendable {
    // @unchecked Sendable: only the upload client's single thread calls `next`.
    let bytes: [UInt8]
    let size: Int
    var offset = 0
    init(bytes: [UInt8], size: Int) {
        self.bytes = bytes
        self.size = size
    }
    func next() -> [UInt8]? {
        guard offset < bytes.count else { return nil }
        defer { offset += size }
        return Array(bytes[offset..<min(offset + size, bytes.count)])
    }
}

/// The gRPC server as a `Service` for the test's ServiceGroup.
struct TestGRPCServer: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

@Suite("capstan upload (the CLI) against a running gateway", .serialized, .timeLimit(.minutes(5)))
struct UploadCommandTests {
    /// The `capstan` executable built next to the test bundle.
    static var capstanBinary: String? { LocalTools.builtExecutable("capstan") }

    func run(_ arguments: [String], environment: [String: String]) async throws -> (status: ChildProcess.Termination, out: String, err: String) {
        guard let binary = Self.capstanBinary else { throw CapstanError(.notFound, "capstan binary not built") }
        let run = try await ChildProcess.capture(
            name: "capstan-upload", executable: binary, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, separateErrors: true)
        return (run.termination, run.output, run.errorOutput)
    }

    @Test("uploads a CSV and a gzip file with a progress bar and prints rejects with line numbers")
    func cliUpload() async throws {
        let gw = try await TestGateway.make { $0.bearerToken = "cli-token" }
        defer { Task { await gw.close() } }
        let dir = NSTemporaryDirectory() + "capstan-cli-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var events = TestData.events(count: 250, seed: 31)
        events[5].amount = "lots"
        let csvPath = dir + "/events.csv"
        try TestData.csv(events).write(toFile: csvPath, atomically: true, encoding: .utf8)
        let port = try Loopback.freePort()
        let logger = Logger(label: "cli-test")
        let group = ServiceGroup(configuration: .init(services: [IngestServers.http(ingestor: gw.ingestor, host: "127.0.0.1", port: port, logger: logger)], logger: logger))
        let task = Task { try await group.run() }
        try await Loopback.waitUntilAccepting(port: port, timeout: .seconds(20), what: "ingest REST")
        let env = ["CAPSTAN_INGEST_TOKEN": "cli-token"]
        let server = "http://127.0.0.1:\(port)"
        let first = try await run(["upload", csvPath, "--view", gw.view, "--server", server], environment: env)
        #expect(first.status == .exited(0))
        #expect(first.out.contains("accepted 249  rejected 1"))
        #expect(first.out.contains("line 7: column 'amount' must be a number, got \"lots\""))
        #expect(first.err.contains("rows/s") && first.err.contains("ETA") && first.err.contains("100.0%"))
        // The same content compressed on the fly is a duplicate (the hash is of the content).
        let again = try await run(["upload", csvPath, "--view", gw.view, "--server", server, "--gzip"], environment: env)
        #expect(again.status == .exited(0) && again.out.contains("duplicate"))
        let denied = try await run(["upload", csvPath, "--view", gw.view, "--server", server], environment: ["CAPSTAN_INGEST_TOKEN": "nope"])
        #expect(denied.status != .exited(0) && denied.err.contains("bearer token"))
        #expect(try await gw.count("capstan_feature_rows") == 249)
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
