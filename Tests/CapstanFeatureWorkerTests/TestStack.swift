import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatureWorker
import CapstanFeatures
import CapstanKafka
import CapstanPostgres
import Foundation
import Logging
import Synchronization

/// One embedded stack (redis-server, PostgreSQL, Kafka mock cluster) per test process; each
/// test gets its own database, topic and view names so tests never see each other's data.
actor TestStack {
    static let shared = TestStack()
    private var stack: EmbeddedStack?
    let logger: Logger = {
        var l = Logger(label: "capstan.test")
        l.logLevel = .warning
        return l
    }()

    func get() async throws -> EmbeddedStack {
        if let stack { return stack }
        let dir = NSTemporaryDirectory() + "capstan-worker-tests-\(getpid())"
        ChildProcess.removeAtExit(dir)
        let started = try await EmbeddedStack.start(directory: dir, kafkaBrokers: nil, mockBrokers: 3, logger: logger)
        stack = started
        return started
    }

    private var databases = 0

    /// A fresh database on the shared PostgreSQL; returns its URL.
    func freshDatabase() async throws -> String {
        let stack = try await get()
        databases += 1
        let name = "t\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: stack.postgres.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        let url = stack.postgres.url
        guard let slash = url.lastIndex(of: "/") else { throw CapstanError(.invalidArgument, "unexpected PostgreSQL URL") }
        return String(url[..<slash]) + "/" + name
    }
}

/// Helpers shared by the pipeline tests.
enum Pipeline {
    /// The example views, renamed and re-pointed at `topic` so a test has its own.
    static func views(topic: String, prefix: String) throws -> [FeatureView] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/featureviews.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "user_activity", with: "\(prefix)_activity")
            .replacingOccurrences(of: "user_purchases_1h", with: "\(prefix)_purchases")
            .replacingOccurrences(of: "user_engagement_24h", with: "\(prefix)_engagement")
            .replacingOccurrences(of: "raw-events.dlq", with: "\(topic).dlq")
            .replacingOccurrences(of: "raw-events", with: topic)
        return try FeatureViewLoader.parse(text)
    }

    /// Reads a whole topic (every partition from offset 0) with a throwaway consumer group.
    static func readAll(_ stack: EmbeddedStack, topic: String, expected: Int, timeout: Duration = .seconds(60)) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(config: stack.kafkaConfig, groupID: "reader-\(UUID().uuidString)", topics: [topic], logger: Logger(label: "reader"))
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + timeout
        while messages.count < expected, ContinuousClock.now < deadline {
            let result = try await consumer.poll(maxMessages: 5000, timeout: .milliseconds(100))
            try await consumer.completeRebalance(result.rebalance, startingAt: 0)
            messages += result.messages
        }
        await consumer.close()
        return messages
    }

    struct Row: Hashable, CustomStringConvertible {
        var view: String
        var partition: Int32
        var offset: Int64
        var entity: String
        var eventTime: Int64
        var values: [String]
        var description: String { "\(view)@\(partition)/\(offset) \(entity) \(eventTime) \(values)" }
    }

    /// The rows an uninterrupted run computes: every partition's messages through one processor.
    static func reference(_ views: [FeatureView], messages: [KafkaMessage]) throws -> [Row] {
        let plan = try PlanCompiler.compile(views)
        var byPartition: [Int32: [KafkaMessage]] = [:]
        for m in messages { byPartition[m.partition, default: []].append(m) }
        var rows: [Row] = []
        for (partition, list) in byPartition {
            let processor = PartitionProcessor(plan: plan)
            for m in list.sorted(by: { $0.offset < $1.offset }) {
                var out = FeatureRows()
                _ = m.value.withUnsafeBytes { processor.process($0, rows: &out) }
                for r in out {
                    let view = plan.views[r.view]
                    let ordered = view.numericFeatures.map { number(r.values[$0]) } + view.stringFeatures.map { r.values[$0].string ?? "null" }
                    rows.append(Row(view: view.name, partition: partition, offset: m.offset, entity: r.entity, eventTime: r.eventTimeMillis, values: ordered))
                }
            }
        }
        return rows
    }

    static func number(_ v: FeatureValue) -> String {
        switch v {
        case .number(let x): String(format: "%.9g", x)
        case .bool(let b): b ? "1" : "0"
        default: "null"
        }
    }

    /// Every offline row of the views, as stored.
    static func offlineRows(databaseURL: String, logger: Logger) async throws -> [Row] {
        let connection = try await PostgresConnection.connect(try PostgresConfig(url: databaseURL), logger: logger)
        defer { Task { await connection.close() } }
        let result = try await connection.query(
            """
            SELECT view, source_partition, source_offset, entity, (extract(epoch FROM event_ts) * 1000)::bigint,
                   array_to_json(num)::text, array_to_json(txt)::text
            FROM capstan_feature_rows
            """)
        var rows: [Row] = []
        for r in result {
            let nums = try JSONSerialization.jsonObject(with: Data((r.string(at: 5) ?? "[]").utf8)) as? [Any] ?? []
            let txts = try JSONSerialization.jsonObject(with: Data((r.string(at: 6) ?? "[]").utf8)) as? [Any] ?? []
            let values = nums.map { ($0 as? NSNumber).map { String(format: "%.9g", $0.doubleValue) } ?? "null" } + txts.map { ($0 as? String) ?? "null" }
            rows.append(Row(
                view: r.string(at: 0)!, partition: Int32(try r.int64(at: 1)!), offset: try r.int64(at: 2)!, entity: r.string(at: 3)!, eventTime: try r.int64(at: 4)!, values: values))
        }
        return rows
    }

    /// Runs an in-process worker until it has consumed `events` events, then stops it gracefully.
    static func runWorker(_ config: WorkerConfiguration, until events: Int, timeout: Duration = .seconds(120)) async throws -> WorkerMetrics.StageTimes {
        let worker = FeatureWorker(configuration: config, logger: Logger(label: "worker"))
        let task = Task { try await worker.run() }
        let deadline = ContinuousClock.now + timeout
        while worker.metrics.stageTimes.events < events, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        worker.requestStop()
        try await Pipeline.value(of: task, within: .seconds(60), "the worker's stop (it was \(worker.activity))")
        return worker.metrics.stageTimes
    }

    /// Awaits `task` for at most `limit`. A task still running then fails the test with a
    /// `.timeout` naming `what` (the task is left running) instead of hanging the whole run.
    @discardableResult
    static func value<T: Sendable>(
        of task: Task<T, any Error>, within limit: Duration, _ what: @escaping @Sendable @autoclosure () -> String
    ) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            Task { once.resume(with: await task.result) }
            Task {
                try? await Task.sleep(for: limit)
                once.resume(with: .failure(CapstanError(.timeout, "\(what()) did not finish within \(limit)")))
            }
        }
    }
}

/// A continuation resumed by whichever of several racers comes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private let state = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func set(_ continuation: CheckedContinuation<T, any Error>) { state.withLock { $0 = continuation } }
    func resume(with result: Result<T, any Error>) {
        state.withLock { slot in
            slot?.resume(with: result)
            slot = nil
        }
    }
}
