import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanFeatures
import CapstanIngest
import CapstanPostgres
import CapstanRedis
import Foundation
import Logging

/// One redis-server and one PostgreSQL per test process; every test gets its own database and
/// view name, so tests never see each other's rows or Redis keys.
actor IngestStack {
    static let shared = IngestStack()
    private var servers: (EmbeddedPostgres, EmbeddedRedis)?
    private var databases = 0
    let logger: Logger = {
        var l = Logger(label: "capstan.ingest.test")
        l.logLevel = .warning
        return l
    }()

    private var starting: Task<(EmbeddedPostgres, EmbeddedRedis), any Error>?

    /// Starts the servers once, however many suites ask at the same time.
    func get() async throws -> (postgres: EmbeddedPostgres, redis: EmbeddedRedis) {
        if let servers { return servers }
        if starting == nil {
            let logger = self.logger
            starting = Task {
                let dir = NSTemporaryDirectory() + "capstan-ingest-tests-\(getpid())"
                ChildProcess.removeAtExit(dir)
                // The parent must be traversable by the PostgreSQL server user (created before the
                // servers' own 0700 directories).
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let pg = try await EmbeddedPostgres.start(directory: dir + "/pg", logger: logger)
                let redis = try await EmbeddedRedis.start(directory: dir + "/redis", logger: logger)
                return (pg, redis)
            }
        }
        let started = try await starting!.value
        servers = started
        return started
    }

    func freshDatabase() async throws -> String {
        let (pg, _) = try await get()
        databases += 1
        let name = "i\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: pg.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        let url = pg.url
        let slash = url.lastIndex(of: "/")!
        return String(url[..<slash]) + "/" + name
    }
}

/// A gateway on a fresh database with its own view name.
struct TestGateway {
    let view: String
    let views: [FeatureView]
    let databaseURL: String
    let redisURL: String
    let ingestor: Ingestor
    let postgres: PostgresPool
    let redis: RedisPool

    static func make(configure: (inout IngestConfiguration) -> Void = { _ in }) async throws -> TestGateway {
        let stack = IngestStack.shared
        let (_, redisServer) = try await stack.get()
        let db = try await stack.freshDatabase()
        let view = "up_\(UInt32.random(in: 0...UInt32.max))"
        let views = try FeatureViewLoader.parse(Self.yaml(view))
        let logger = stack.logger
        let postgres = PostgresPool(config: try PostgresConfig(url: db), size: 4, logger: logger)
        let redis = RedisPool(config: try RedisConfig(url: redisServer.url), size: 2, logger: logger)
        var configuration = IngestConfiguration()
        configuration.workers = 2
        configuration.batchBytes = 4096  // many batches even for small test files
        configure(&configuration)
        let ingestor = try await Ingestor.start(views: views, postgres: postgres, redis: redis, configuration: configuration, logger: logger)
        return TestGateway(view: view, views: views, databaseURL: db, redisURL: redisServer.url, ingestor: ingestor, postgres: postgres, redis: redis)
    }

    static func yaml(_ name: String) -> String {
        """
        apiVersion: ml.capstan.dev/v1alpha1
        kind: FeatureView
        metadata:
          name: \(name)
        spec:
          entity: user_id
          source:
            uploads: true
          eventTime:
            field: timestamp
          allowedLateness: 1h
          schema:
            - { name: user_id, type: string, required: true }
            - { name: action, type: string, required: true }
            - { name: amount, type: number }
            - { name: timestamp, type: timestamp, required: true }
          features:
            - name: amount_eur
              expr: coalesce(amount, 0)
            - name: is_purchase
              expr: action == 'purchase'
            - name: band
              expr: if(amount_eur > 50, 'high', 'low')
            - name: spend_1h
              window: { size: 1h, aggregation: sum, of: amount }
          online:
            enabled: true
            ttl: 7d
        """
    }

    func close() async {
        await postgres.close()
        await redis.close()
    }

    /// Uploads `content` through the Ingestor API in chunks of `chunk` bytes.
    func upload(_ content: [UInt8], format: UploadFormat, gzip: Bool = false, id: String? = nil, chunk: Int = 1000) async throws -> UploadResult {
        try await ingestor.upload(UploadRequest(view: view, format: format, gzip: gzip, uploadID: id)) { feeder in
            var offset = 0
            while offset < content.count {
                try await feeder.send(Array(content[offset..<min(offset + chunk, content.count)]))
                offset += chunk
            }
        }
    }

    func query(_ sql: String) async throws -> PostgresRows {
        try await postgres.withConnection { try await $0.query(sql) }
    }

    func count(_ table: String) async throws -> Int64 {
        try await query("SELECT count(*) FROM \(table)").first?.int64(at: 0) ?? -1
    }

    /// Stored rows as comparable strings: "entity|event ms|line|num...|txt...".
    func storedRows() async throws -> [String] {
        let rows = try await query(
            """
            SELECT entity, (extract(epoch FROM event_ts) * 1000)::bigint, source_offset, array_to_string(num, ',', 'null'), array_to_string(txt, ',', 'null')
            FROM capstan_feature_rows WHERE view = '\(view)'
            """)
        return try rows.map { r in
            "\(r.string(at: 0)!)|\(try r.int64(at: 1)!)|\(try r.int64(at: 2)!)|\(r.string(at: 3) ?? "")|\(r.string(at: 4) ?? "")"
        }.sorted()
    }

    /// What one sequential PartitionProcessor computes from the same events as JSON objects,
    /// in the same comparable form (the stream's engine on the stream's input format).
    func reference(_ events: [(line: Int64, json: String)]) throws -> (rows: [String], rejectedLines: [Int64]) {
        let target = try UploadTarget(name: view, views: views)
        let processor = PartitionProcessor(plan: target.plan)
        let plan = target.plan
        let v = plan.views[target.index]
        var out: [String] = []
        var rejected: [Int64] = []
        for (line, json) in events {
            var rows = FeatureRows()
            _ = Array(json.utf8).withUnsafeBytes { processor.process($0, rows: &rows) }
            guard let row = rows.first(where: { $0.view == target.index }) else {
                rejected.append(line)
                continue
            }
            let nums = v.numericFeatures.map { i -> String in
                switch row.values[i] {
                case .number(let x): return Self.pgFloat(x)
                case .bool(let b): return b ? "1" : "0"
                default: return "null"
                }
            }
            let txts = v.stringFeatures.map { row.values[$0].string ?? "null" }
            out.append("\(row.entity)|\(row.eventTimeMillis)|\(line)|\(nums.joined(separator: ","))|\(txts.joined(separator: ","))")
        }
        return (out.sorted(), rejected)
    }

    /// PostgreSQL's text form of a float8 (shortest round trip, like Swift's).
    static func pgFloat(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }
}

/// Test events: users, actions, amounts and increasing times, with deliberate bad records.
enum TestData {
    struct Event {
        var user: String
        var action: String
        var amount: String  // CSV text; "" = null
        var timestamp: String
    }

    static func events(count: Int, seed: UInt64) -> [Event] {
        var rng = seed
        func next() -> UInt64 {
            rng &+= 0x9e37_79b9_7f4a_7c15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        let actions = ["click", "view", "purchase", "refund"]
        var t: Int64 = 1_780_000_000_000
        return (0..<count).map { i in
            t += Int64(next() % 30_000)
            let user = "u\(next() % 40)"
            let action = actions[Int(next() % 4)]
            let amount = next() % 5 == 0 ? "" : String(format: "%.2f", Double(next() % 20_000) / 100)
            return Event(user: user, action: action, amount: amount, timestamp: EpochMillis.format(t))
        }
    }

    /// CSV text (header on line 1) and, per data line, the same event as JSON (nil for lines the
    /// JSON form cannot express, which the test checks separately).
    static func csv(_ events: [Event]) -> String {
        "user_id,action,amount,timestamp\n" + events.map { "\($0.user),\($0.action),\($0.amount),\($0.timestamp)" }.joined(separator: "\n") + "\n"
    }

    static func json(_ e: Event) -> String {
        let amount = e.amount.isEmpty ? "null" : e.amount
        return "{\"user_id\":\"\(e.user)\",\"action\":\"\(e.action)\",\"amount\":\(amount),\"timestamp\":\"\(e.timestamp)\"}"
    }

    static func jsonl(_ events: [Event]) -> String {
        events.map(json).joined(separator: "\n") + "\n"
    }
}
