import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import CapstanCore
import CapstanEmbedded
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import CapstanStore
import CapstanStoreTestSupport
import Foundation
import Logging
import Testing

@Suite("backfill, materialize and trainingSet steps", .timeLimit(.minutes(5)))
struct OfflineStepTests {
    static let t0: Int64 = 1_790_000_000_000

    static func view(_ name: String) throws -> FeatureView {
        try Fixtures.view(name, topic: "\(name)-events", features: [
            FeatureSpec(name: "amt", expr: "amount"),
            FeatureSpec(name: "cnt_1h", window: WindowSpec(size: try DurationString(parsing: "1h"), aggregation: .count)),
            FeatureSpec(name: "band", expr: "if(amount > 50, 'high', 'low')"),
        ])
    }

    static func backfill(_ view: String) -> BatchStep {
        var step = BatchStep(name: "backfill")
        step.backfill = BackfillStep(featureView: view, from: "2026-09-21T14:00:00Z", to: EpochMillis.format(t0 + 4 * 3_600_000))
        return step
    }

    static func rows(_ pool: PostgresPool, view: String) async throws -> (total: Int64, positions: Int64) {
        let row = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT count(*), count(DISTINCT (source_id, source_partition, source_offset)) FROM capstan_feature_rows WHERE view = $1", [.text(view)])
        }
        return (try row.first!.int64(at: 0)!, try row.first!.int64(at: 1)!)
    }

    @Test("a retried backfill leaves the rows of one success: none duplicated, the same outputs")
    func retriedBackfill() async throws {
        let (pool, _, _) = try await OfflineTestStack.shared.freshStore()
        let view = try Self.view("bfstep")
        _ = try await RawEventLog.write(pool: pool, topic: "bfstep-events", t0: Self.t0)
        let context = CapstanStepContext(pool: pool, redis: nil, catalog: FileBatchCatalog(featureViews: [view]), logger: Logger(label: "t"))
        let executor = BackfillStepExecutor(context: context, chunkEvents: 100)
        var step = Self.backfill("bfstep")
        step.backfill?.from = EpochMillis.format(Self.t0)
        let first = try #require(Steps.outputs(await executor.execute(Steps.invocation(step), log: LinesLog())))
        let once = try await Self.rows(pool, view: "bfstep")
        #expect(once.total > 0)
        #expect(first["rows"] == String(once.total))
        let retry = try #require(Steps.outputs(await executor.execute(Steps.invocation(step, attempt: 2), log: LinesLog())))
        let twice = try await Self.rows(pool, view: "bfstep")
        #expect(twice.total == once.total)
        #expect(twice.positions == twice.total)
        #expect(retry["run"] == first["run"])
        #expect(retry["rows"] == first["rows"])
        await pool.close()
    }

    static func rowSet(_ pool: PostgresPool, view: String) async throws -> [String] {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT entity, source_partition, source_offset, (extract(epoch FROM event_ts) * 1000)::bigint, num::text, txt::text
                FROM capstan_feature_rows WHERE view = $1 ORDER BY source_partition, source_offset
                """, [.text(view)])
        }
        return rows.map { row in row.values.map { $0 ?? "NULL" }.joined(separator: "|") }
    }

    struct StopForTest: Error {}

    @Test("a backfill attempt stopped mid-run and retried leaves exactly the rows of one uninterrupted success")
    func interruptedBackfill() async throws {
        let view = try Self.view("bfcut")
        var step = Self.backfill("bfcut")
        step.backfill?.from = EpochMillis.format(Self.t0)
        let (clean, _, _) = try await OfflineTestStack.shared.freshStore()
        _ = try await RawEventLog.write(pool: clean, topic: "bfcut-events", t0: Self.t0)
        let catalog = FileBatchCatalog(featureViews: [view])
        let once = BackfillStepExecutor(context: CapstanStepContext(pool: clean, redis: nil, catalog: catalog, logger: Logger(label: "t")), chunkEvents: 100)
        _ = try #require(Steps.outputs(await once.execute(Steps.invocation(step), log: LinesLog())))
        let expected = try await Self.rowSet(clean, view: "bfcut")

        let (cut, _, _) = try await OfflineTestStack.shared.freshStore()
        _ = try await RawEventLog.write(pool: cut, topic: "bfcut-events", t0: Self.t0)
        var stopping = BackfillStepExecutor(context: CapstanStepContext(pool: cut, redis: nil, catalog: catalog, logger: Logger(label: "t")), chunkEvents: 100)
        stopping.beforeChunkCommit = { chunk in if chunk == 3 { throw StopForTest() } }
        let failed = try #require(Steps.failure(await stopping.execute(Steps.invocation(step), log: LinesLog())))
        #expect(failed.kind == .error)
        let partial = try await Self.rowSet(cut, view: "bfcut")
        #expect(!partial.isEmpty && partial.count < expected.count)
        stopping.beforeChunkCommit = nil
        _ = try #require(Steps.outputs(await stopping.execute(Steps.invocation(step, attempt: 2), log: LinesLog())))
        #expect(try await Self.rowSet(cut, view: "bfcut") == expected)
        await clean.close()
        await cut.close()
    }

    @Test("materialize writes each entity's newest offline row to Redis once; a retry writes nothing and leaves the same values")
    func materializeIsIdempotent() async throws {
        let (pool, _, redisURL) = try await OfflineTestStack.shared.freshStore()
        let view = try Self.view("matstep")
        _ = try await RawEventLog.write(pool: pool, topic: "matstep-events", t0: Self.t0)
        let catalog = FileBatchCatalog(featureViews: [view])
        var step = Self.backfill("matstep")
        step.backfill?.from = EpochMillis.format(Self.t0)
        let offlineOnly = CapstanStepContext(pool: pool, redis: nil, catalog: catalog, logger: Logger(label: "t"))
        _ = try #require(Steps.outputs(await BackfillStepExecutor(context: offlineOnly).execute(Steps.invocation(step), log: LinesLog())))

        let redis = RedisPool(config: try RedisConfig(url: redisURL), size: 2, logger: Logger(label: "t"))
        let executor = MaterializeStepExecutor(context: CapstanStepContext(pool: pool, redis: redis, catalog: catalog, logger: Logger(label: "t")))
        var materialize = BatchStep(name: "materialize")
        materialize.materialize = MaterializeStep(featureView: "matstep", from: EpochMillis.format(Self.t0), to: EpochMillis.format(Self.t0 + 4 * 3_600_000))
        let first = try #require(Steps.outputs(await executor.execute(Steps.invocation(materialize), log: LinesLog())))
        #expect(first["entities"] == "12")
        #expect(first["written"] == "12")
        let online = OnlineStore(pool: redis, logger: Logger(label: "t"))
        let entities = (0..<12).map { "u\($0)" }
        let before = try await online.read(entities.map { (view: "matstep", entity: $0, features: ["amt", "cnt_1h", "band"]) })
        let newest = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT (extract(epoch FROM max(event_ts)) * 1000)::bigint FROM capstan_feature_rows WHERE view = 'matstep' AND entity = 'u3'")
        }
        #expect(before[3][OnlineLayout.timestampField] == newest.first?.string(at: 0))
        #expect(before.allSatisfy { $0["band"] == "high" || $0["band"] == "low" })

        let retry = try #require(Steps.outputs(await executor.execute(Steps.invocation(materialize, attempt: 2), log: LinesLog())))
        #expect(retry["entities"] == "12")
        #expect(retry["written"] == "0")
        let after = try await online.read(entities.map { (view: "matstep", entity: $0, features: ["amt", "cnt_1h", "band"]) })
        #expect(after == before)
        await redis.close()
        await pool.close()
    }

    @Test("trainingSet joins a label table as of each row's time, writes the CSV into the artifacts directory and names it in its outputs")
    func trainingSetFromLabelTable() async throws {
        let (pool, _, _) = try await OfflineTestStack.shared.freshStore()
        let view = try Self.view("tsstep")
        _ = try await RawEventLog.write(pool: pool, topic: "tsstep-events", t0: Self.t0)
        let context = CapstanStepContext(pool: pool, redis: nil, catalog: FileBatchCatalog(featureViews: [view]), logger: Logger(label: "t"))
        var backfill = Self.backfill("tsstep")
        backfill.backfill?.from = EpochMillis.format(Self.t0)
        _ = try #require(Steps.outputs(await BackfillStepExecutor(context: context).execute(Steps.invocation(backfill), log: LinesLog())))
        try await pool.withConnection { connection in
            try await connection.execute(
                """
                CREATE TABLE churn_labels (entity_id text, event_time timestamptz, churned integer);
                INSERT INTO churn_labels VALUES
                  ('u1', to_timestamp(\(Self.t0 + 3_600_000) / 1000.0), 1),
                  ('u2', to_timestamp(\(Self.t0 + 3_600_000) / 1000.0), 0),
                  ('u3', to_timestamp(\(Self.t0 - 3_600_000) / 1000.0), 0),
                  ('u4', to_timestamp(\(Self.t0 + 9 * 3_600_000) / 1000.0), 1);
                """)
        }
        var step = BatchStep(name: "training-set")
        step.trainingSet = TrainingSetStep(name: "churn-train", labels: "churn_labels", features: ["tsstep.amt", "tsstep.cnt_1h"])
        step.trainingSet?.to = EpochMillis.format(Self.t0 + 8 * 3_600_000)
        let invocation = Steps.invocation(step)
        let outputs = try #require(Steps.outputs(await TrainingSetStepExecutor(context: context).execute(invocation, log: LinesLog())))
        #expect(outputs["name"] == "churn-train")
        #expect(outputs["rows"] == "3")
        #expect(outputs["path"] == invocation.artifactsDirectory + "/churn-train.csv")
        let csv = Fixtures.rows(try String(contentsOfFile: try #require(outputs["path"]), encoding: .utf8))
        let header = try #require(csv.first)
        #expect(header.contains("churned") && header.contains("tsstep:amt") && header.contains("tsstep:cnt_1h"))
        let amount = try #require(header.firstIndex(of: "tsstep:amt"))
        let entity = try #require(header.firstIndex(of: "entity_id"))
        let before = try #require(csv.dropFirst().first { $0[entity] == "u3" })
        #expect(before[amount] == "")  // the label is older than every event of u3: no value leaks back
        let u1 = try #require(csv.dropFirst().first { $0[entity] == "u1" })
        #expect(!u1[amount].isEmpty)
        await pool.close()
    }

    @Test("an unknown view is invalid naming it; a database that is down is an error")
    func failures() async throws {
        let (pool, _, _) = try await OfflineTestStack.shared.freshStore()
        let context = CapstanStepContext(pool: pool, redis: nil, catalog: FileBatchCatalog(), logger: Logger(label: "t"))
        let unknown = try #require(Steps.failure(await BackfillStepExecutor(context: context).execute(Steps.invocation(Self.backfill("nosuchview")), log: LinesLog())))
        #expect(unknown.kind == .invalid)
        #expect(unknown.message.contains("nosuchview"))
        var noLabels = BatchStep(name: "training-set")
        noLabels.trainingSet = TrainingSetStep(name: "set", labels: "no_such_labels", features: ["v.f"])
        let missingTable = try #require(Steps.failure(await TrainingSetStepExecutor(context: context).execute(Steps.invocation(noLabels), log: LinesLog())))
        #expect(missingTable.kind == .invalid && missingTable.message.contains("no_such_labels"))
        await pool.close()

        var config = try PostgresConfig(url: "postgres://capstan@127.0.0.1:\(try Loopback.freePort())/capstan")
        config.connectTimeout = .seconds(2)
        let down = PostgresPool(config: config, size: 1, logger: Logger(label: "t"))
        let catalog = FileBatchCatalog(featureViews: [try Self.view("downview")])
        let failed = try #require(
            Steps.failure(
                await BackfillStepExecutor(context: CapstanStepContext(pool: down, redis: nil, catalog: catalog, logger: Logger(label: "t")))
                    .execute(Steps.invocation(Self.backfill("downview")), log: LinesLog())))
        #expect(failed.kind == .error)
        #expect(failed.message.contains("backfill of downview"))
        await down.close()
    }
}
