import ArgumentParser
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanIngest
import CapstanPostgres
import CapstanRedis
import Foundation
import Logging
import ServiceLifecycle

/// Upload benchmark: a generated CSV of at least `--gigabytes` through the ingestion gateway
/// (REST, the `user_activity` example view: 7 features, online and offline), against a plain
/// PostgreSQL `COPY ... FROM` of the same file into a table shaped like the CSV (the ceiling),
/// both on the same embedded PostgreSQL in the same run.
@main
struct UploadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capstan-upload-bench", abstract: "Batch upload throughput against plain COPY.")

    @Option(help: "Size of the generated CSV in GB (10^9 bytes).")
    var gigabytes: Double = 1.0

    @Option(help: "Distinct users.")
    var users: Int = 100_000

    @Option(help: "Gateway transform workers (default: the gateway's, the processor count less one).")
    var workers: Int = IngestConfiguration().workers

    @Option(help: "FeatureView manifests.")
    var views: [String] = ["examples/featureviews.yaml"]

    @Option(help: "View to upload into.")
    var view: String = "user_activity"

    @Option(help: "Working directory (embedded servers and the CSV).")
    var directory: String = ".capstan/bench-upload"

    @Option(help: "Keep the generated CSV at this path and reuse it when it exists (for repeated runs; the working directory is removed after each run).")
    var csv: String?

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.bench.upload")
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let csvPath = URL(fileURLWithPath: csv ?? directory + "/upload.csv").standardizedFileURL.path
        let reuse = csv != nil && FileManager.default.fileExists(atPath: csvPath)
        let generated = reuse ? try Self.count(path: csvPath) : try Self.generate(path: csvPath, bytes: Int64(gigabytes * 1e9), users: users)
        Console.line(String(format: "%@ %@: %.2f GB, %lld rows", reuse ? "reusing" : "generated", csvPath, Double(generated.bytes) / 1e9, generated.rows))

        let pg = try await EmbeddedPostgres.start(directory: directory + "/pg", logger: logger)
        let redis = try await EmbeddedRedis.start(directory: directory + "/redis", logger: logger)
        defer {
            pg.stop()
            redis.stop()
        }
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: pg.url), logger: logger)

        // Ceiling: the server reads the same file with COPY into a table of the CSV's shape, once
        // before the upload and once after it; the machine's speed drifts over minutes, and the
        // mean of the two brackets the upload in time.
        let copyBefore = try await Self.plainCopy(admin, csvPath: csvPath, expected: generated.rows, label: "plain COPY (before):")

        // Gateway: REST upload of the same file, streamed from disk by the upload client.
        let loaded = try FeatureViewLoader.load(paths: views)
        let postgres = PostgresPool(config: try PostgresConfig(url: pg.url), size: 4, logger: logger)
        let redisPool = RedisPool(config: try RedisConfig(url: redis.url), size: 2, logger: logger)
        var configuration = IngestConfiguration()
        configuration.workers = workers
        let ingestor = try await Ingestor.start(views: loaded, postgres: postgres, redis: redisPool, configuration: configuration, logger: logger)
        let port = try Loopback.freePort()
        let group = ServiceGroup(configuration: .init(services: [IngestServers.http(ingestor: ingestor, host: "127.0.0.1", port: port, logger: logger)], logger: logger))
        let server = Task { try await group.run() }
        try await Loopback.waitUntilAccepting(port: port, timeout: .seconds(30), what: "capstan-ingest")
        let reader = try FileChunks(path: csvPath)
        let client = UploadClient(server: "http://127.0.0.1:\(port)")
        let uploadStart = ContinuousClock.now
        let response = try await client.upload(UploadRequest(view: view, format: .csv), next: { try reader.next() })
        let uploadSeconds = (ContinuousClock.now - uploadStart).inSeconds
        let result = try UploadClient.decode(response)
        let uploadRate = Double(result.rows) / uploadSeconds
        Console.line(String(format: "gateway:      %lld rows (%lld accepted, %lld rejected) in %.1f s = %.0f rows/s, %lld online writes",
                            result.rows, result.accepted, result.rejected, uploadSeconds, uploadRate, result.onlineWritten))
        await group.triggerGracefulShutdown()
        _ = try? await server.value
        await postgres.close()
        await redisPool.close()
        let size = try await admin.query("SELECT pg_relation_size('capstan_feature_rows')")
        if let bytes = try size.first?.int64(at: 0), result.accepted > 0 {
            Console.line(String(format: "feature rows: %.0f bytes each in capstan_feature_rows (heap pages included)", Double(bytes) / Double(result.accepted)))
        }
        try await admin.execute("CHECKPOINT")
        let copyAfter = try await Self.plainCopy(admin, csvPath: csvPath, expected: generated.rows, label: "plain COPY (after): ")
        await admin.close()
        let copyRate = (copyBefore + copyAfter) / 2
        Console.line(String(format: "ceiling:      %.0f rows/s, the mean of the COPY before (%.0f) and after (%.0f) the upload", copyRate, copyBefore, copyAfter))
        Console.line(String(format: "ratio:        %.3f of plain COPY (target 0.5; the client, the gateway and PostgreSQL share this machine's cores)", uploadRate / copyRate))
        guard result.rejected == 0, result.accepted == generated.rows else {
            throw CapstanError(.internal, "expected every generated row to be accepted, got \(result.accepted) of \(generated.rows)")
        }
        Console.line("RESULT upload rows_per_s=\(Int(uploadRate)) copy_rows_per_s=\(Int(copyRate))")
    }

    /// Server-side `COPY ... FROM` the file into a fresh table of the CSV's shape (dropped and
    /// checkpointed afterwards); returns rows/s.
    static func plainCopy(_ admin: PostgresConnection, csvPath: String, expected: Int64, label: String) async throws -> Double {
        try await admin.execute(
            """
            CREATE TABLE bench_plain (user_id text, action text, amount double precision, country text, device text,
                                      session_ms double precision, "timestamp" timestamptz);
            CREATE INDEX bench_plain_ts ON bench_plain USING brin ("timestamp");
            """)
        let start = ContinuousClock.now
        let copied = try await admin.query("COPY bench_plain FROM '\(csvPath)' (FORMAT csv, HEADER true)")
        let seconds = (ContinuousClock.now - start).inSeconds
        let rows = copied.affectedRows ?? expected
        let rate = Double(rows) / seconds
        Console.line(String(format: "%@ %lld rows in %.1f s = %.0f rows/s", label, rows, seconds, rate))
        try await admin.execute("DROP TABLE bench_plain; CHECKPOINT")
        return rate
    }

    /// Rows (lines less the header) and bytes of an earlier generated file.
    static func count(path: String) throws -> (rows: Int64, bytes: Int64) {
        let reader = try FileChunks(path: path)
        var lines: Int64 = 0
        var bytes: Int64 = 0
        while let chunk = try reader.next() {
            bytes += Int64(chunk.count)
            for byte in chunk where byte == UInt8(ascii: "\n") { lines += 1 }
        }
        return (lines - 1, bytes)
    }

    /// Writes user-activity rows (the example view's schema) until `bytes` is reached.
    static func generate(path: String, bytes: Int64, users: Int) throws -> (rows: Int64, bytes: Int64) {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CapstanError(.io, "cannot write \(path)") }
        defer { try? handle.close() }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8 << 20)
        buffer += Array("user_id,action,amount,country,device,session_ms,timestamp\n".utf8)
        let actions = ["click", "view", "purchase", "add_to_cart", "refund"]
        let countries = ["de", "fr", "us", "gb", "es", "it", "nl", "pl"]
        let devices = ["ios", "android", "web"]
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        var written: Int64 = 0
        var rows: Int64 = 0
        var t: Int64 = 1_780_000_000_000
        while written + Int64(buffer.count) < bytes {
            t += Int64(next() % 50)
            let r = next()
            let amount = r % 4 == 0 ? "" : "\(r % 30000 / 100).\(r % 100 < 10 ? "0" : "")\(r % 100)"
            let line = "u\(next() % UInt64(users)),\(actions[Int(r % 5)]),\(amount),\(countries[Int(r >> 8 % 8) % 8]),\(devices[Int(r >> 16) % 3]),\(r >> 20 % 600_000 % 600_000),\(EpochMillis.format(t))\n"
            buffer += Array(line.utf8)
            rows += 1
            if buffer.count >= 4 << 20 {
                handle.write(Data(buffer))
                written += Int64(buffer.count)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        handle.write(Data(buffer))
        written += Int64(buffer.count)
        return (rows, written)
    }
}

/// Reads a file in 1 MiB chunks for the upload client's thread.
final class FileChunks: @unchecked Sendable {
    // @unchecked Sendable: only the upload client's single thread calls `next`.
    let handle: FileHandle
    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CapstanError(.io, "cannot open \(path)") }
        self.handle = handle
    }
    func next() throws -> [UInt8]? {
        guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
        return [UInt8](data)
    }
}
