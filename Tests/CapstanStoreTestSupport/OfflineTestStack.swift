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

/// One redis-server and one PostgreSQL per test process (shared by the test targets that need the
/// offline store: CapstanOfflineTests, CapstanBatchStepsTests); each test gets its own database
/// (and Redis key prefix through its own view names).
public actor OfflineTestStack {
    public static let shared = OfflineTestStack()
    private var starting: Task<(EmbeddedPostgres, EmbeddedRedis), any Error>?
    private var databases = 0
    public let logger: Logger = {
        var l = Logger(label: "capstan.offline.test")
        l.logLevel = .warning
        return l
    }()

    /// Starts the servers once; concurrent callers (suites run in parallel) share the start.
    public func servers() async throws -> (EmbeddedPostgres, EmbeddedRedis) {
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
    public func freshStore(migrated: Bool = true) async throws -> (pool: PostgresPool, url: String, redisURL: String) {
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

public enum Fixtures {
    public static func view(_ name: String, topic: String = "events", features: [FeatureSpec], ttl: String? = nil, dependsOn: [String]? = nil,
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
    public static func register(_ views: [FeatureView], pool: PostgresPool) async throws -> [Int32] {
        try await OfflineStore(pool: pool, logger: Logger(label: "t")).register(try PlanCompiler.compile(views))
    }

    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs a Python script from Tests/Python; returns its standard output. Throws with stderr on failure.
    public static func python(_ script: String, _ arguments: [String]) async throws -> String {
        let run = try await ChildProcess.capture(
            name: script, executable: "/usr/bin/env",
            arguments: ["python3", repositoryRoot.appendingPathComponent("Tests/Python/\(script)").path] + arguments, separateErrors: true)
        guard run.termination == .exited(0) else {
            throw CapstanError(.server, "\(script) failed (\(run.termination)): \(run.errorOutput)")
        }
        return run.output
    }

    /// Builds a training set from label CSV text and returns the output CSV text.
    public static func trainingSet(_ labels: String, _ request: TrainingSetRequest, pool: PostgresPool, columns: LabelColumns = LabelColumns()) async throws -> (String, TrainingSetStats) {
        var builder = LabelTableBuilder(columns: columns)
        try builder.feed(Array(labels.utf8))
        let table = try builder.finish()
        let set = try await TrainingSetBuilder(pool: pool, logger: Logger(label: "t")).build(labels: table, request: request)
        var bytes: [UInt8] = []
        try await set.write(chunkBytes: 4096) { bytes += $0 }
        return (String(decoding: bytes, as: UTF8.self), set.stats)
    }

    /// Parses simple CSV output (no quoted commas in the compared columns) into rows of fields.
    public static func rows(_ csv: String) -> [[String]] {
        var out: [[String]] = []
        var parser = CSVParser()
        try? Array(csv.utf8).withUnsafeBytes { bytes in
            try parser.feed(bytes) { fields, _ in out.append(fields.map { String(decoding: $0, as: UTF8.self) }) }
            try parser.finish { fields, _ in out.append(fields.map { String(decoding: $0, as: UTF8.self) }) }
        }
        return out
    }
}

/// Raw events of 12 users over 2 partitions (a user always on one), slightly out of order,
/// stored as the worker stores them (segments of 50 events), for backfills to recompute.
public enum RawEventLog {
    public struct Event: Sendable {
        public var partition: Int32
        public var offset: Int64
        public var payload: [UInt8]
    }

    /// Writes 900 events of source `kafka:<topic>` starting at `t0` (epoch ms) and returns them.
    public static func write(pool: PostgresPool, topic: String, t0: Int64) async throws -> [Event] {
        var rng = SplitMix64(seed: 11)
        var events: [Event] = []
        var offsets: [Int64] = [0, 0]
        var clock = t0
        for _ in 0..<900 {
            let user = Int.random(in: 0..<12, using: &rng)
            clock += Int64.random(in: 0...20_000, using: &rng)
            let ts = clock - Int64.random(in: 0...120_000, using: &rng)  // up to 2 min late
            let amount = Double(Int.random(in: 0...1000, using: &rng)) / 10
            let payload = Array("{\"user_id\":\"u\(user)\",\"amount\":\(amount),\"kind\":\"k\",\"timestamp\":\(ts)}".utf8)
            let partition = Int32(user % 2)
            events.append(Event(partition: partition, offset: offsets[Int(partition)], payload: payload))
            offsets[Int(partition)] += 1
        }
        let store = OfflineStore(pool: pool, logger: Logger(label: "t"))
        for partition: Int32 in [0, 1] {
            let mine = events.filter { $0.partition == partition }
            var start = 0
            while start < mine.count {
                var batch = OfflineBatch(groupID: "worker")
                for e in mine[start..<min(start + 50, mine.count)] {
                    batch.appendRawEvent(source: "kafka:\(topic)", partition: partition, offset: e.offset, key: nil, receivedMillis: t0, payload: e.payload)
                }
                try await store.commit(batch)
                start += 50
            }
        }
        return events
    }
}
