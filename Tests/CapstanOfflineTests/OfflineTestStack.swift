import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging

/// One redis-server and one PostgreSQL per test process; each test gets its own database
/// (and Redis key prefix through its own view names).
actor OfflineTestStack {
    static let shared = OfflineTestStack()
    private var starting: Task<(EmbeddedPostgres, EmbeddedRedis), any Error>?
    private var databases = 0
    let logger: Logger = {
        var l = Logger(label: "capstan.offline.test")
        l.logLevel = .warning
        return l
    }()

    /// Starts the servers once; concurrent callers (suites run in parallel) share the start.
    func servers() async throws -> (EmbeddedPostgres, EmbeddedRedis) {
        if let starting { return try await starting.value }
        let logger = self.logger
        let task = Task {
            let dir = NSTemporaryDirectory() + "capstan-offline-tests-\(getpid())"
            ChildProcess.removeAtExit(dir)
            let r = try await EmbeddedRedis.start(directory: dir + "/redis", logger: logger)
            let p = try await EmbeddedPostgres.start(directory: dir + "/postgres", logger: logger)
            return (p, r)
        }
        starting = task
        return try await task.value
    }

    /// A fresh database, migrated unless `migrated` is false; returns a pool on it.
    func freshStore(migrated: Bool = true) async throws -> (pool: PostgresPool, url: String, redisURL: String) {
        let (postgres, redis) = try await servers()
        databases += 1
        let name = "o\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: postgres.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        let url = String(postgres.url[..<postgres.url.lastIndex(of: "/")!]) + "/" + name
        let pool = PostgresPool(config: try PostgresConfig(url: url), size: 4, logger: logger)
        if migrated { try await OfflineStore(pool: pool, logger: logger).migrate() }
        return (pool, url, redis.url)
    }
}

enum Fixtures {
    static func view(_ name: String, topic: String = "events", features: [FeatureSpec], ttl: String? = nil, dependsOn: [String]? = nil,
                     schema: [EventField]? = nil, online: Bool = true) throws -> FeatureView {
        FeatureView(
            name: name,
            spec: FeatureViewSpec(
                entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: topic)), eventTime: EventTimeSpec(field: "timestamp"),
                schema: schema ?? [
                    EventField(name: "user_id", type: .string, required: true), EventField(name: "amount", type: .number),
                    EventField(name: "kind", type: .string), EventField(name: "timestamp", type: .timestamp, required: true),
                ],
                features: features, dependsOn: dependsOn,
                online: OnlineSpec(enabled: online, ttl: try ttl.map { try DurationString(parsing: $0) })))
    }

    /// Registers `views` (one plan) and returns their versions.
    static func register(_ views: [FeatureView], pool: PostgresPool) async throws -> [Int32] {
        try await OfflineStore(pool: pool, logger: Logger(label: "t")).register(try PlanCompiler.compile(views))
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs a Python script from Tests/Python; returns its standard output. Throws with stderr on failure.
    static func python(_ script: String, _ arguments: [String]) async throws -> String {
        let run = try await ChildProcess.capture(
            name: script, executable: "/usr/bin/env",
            arguments: ["python3", repositoryRoot.appendingPathComponent("Tests/Python/\(script)").path] + arguments, separateErrors: true)
        guard run.termination == .exited(0) else {
            throw CapstanError(.server, "\(script) failed (\(run.termination)): \(run.errorOutput)")
        }
        return run.output
    }

    /// Builds a training set from label CSV text and returns the output CSV text.
    static func trainingSet(_ labels: String, _ request: TrainingSetRequest, pool: PostgresPool, columns: LabelColumns = LabelColumns()) async throws -> (String, TrainingSetStats) {
        var builder = LabelTableBuilder(columns: columns)
        try builder.feed(Array(labels.utf8))
        let table = try builder.finish()
        let set = try await TrainingSetBuilder(pool: pool, logger: Logger(label: "t")).build(labels: table, request: request)
        var bytes: [UInt8] = []
        try await set.write(chunkBytes: 4096) { bytes += $0 }
        return (String(decoding: bytes, as: UTF8.self), set.stats)
    }

    /// Parses simple CSV output (no quoted commas in the compared columns) into rows of fields.
    static func rows(_ csv: String) -> [[String]] {
        var out: [[String]] = []
        var parser = CSVParser()
        try? Array(csv.utf8).withUnsafeBytes { bytes in
            try parser.feed(bytes) { fields, _ in out.append(fields.map { String(decoding: $0, as: UTF8.self) }) }
            try parser.finish { fields, _ in out.append(fields.map { String(decoding: $0, as: UTF8.self) }) }
        }
        return out
    }
}
