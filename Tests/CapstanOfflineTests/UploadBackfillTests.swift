import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanIngest
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import CapstanStore
import CapstanStoreTestSupport
import Foundation
import Logging
import Testing

/// Backfills recompute the rows that came from batch uploads, from the stored upload segments,
/// exactly as the ingest gateway computed them.
@Suite("Backfills of uploaded records", .timeLimit(.minutes(5)))
struct UploadBackfillTests {
    static let t0 = BackfillTests.t0

    /// `base` accepting uploads; `kafka: false` drops its Kafka source (an upload-only view).
    static func uploadable(_ base: FeatureView, name: String? = nil, kafka: Bool = true) -> FeatureView {
        var view = base
        if let name { view.metadata.name = name }
        view.spec.source = FeatureSource(kafka: kafka ? base.spec.source.kafka : nil, uploads: true)
        return view
    }

    /// A CSV upload of 15 users, slightly out of order, exercising what record splitting and
    /// decoding must reproduce: columns in another order than the schema plus an ignored one,
    /// RFC 3339 and epoch-ms timestamps, quoted fields with doubled quotes and a line break
    /// inside, CRLF endings, blank lines, and records the view rejects.
    static func csv(records: Int, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var out = "timestamp,user_id,note,amount,kind\n"
        var clock = t0
        for i in 0..<records {
            let user = Int.random(in: 0..<15, using: &rng)
            clock += Int64.random(in: 0...25_000, using: &rng)
            let ts = clock - Int64.random(in: 0...90_000, using: &rng)
            let amount = Double(Int.random(in: 0...1000, using: &rng)) / 10
            let time = i % 3 == 0 ? EpochMillis.format(ts) : String(ts)
            let kind = i % 11 == 0 ? "\"say \"\"hi\"\"\nthere\"" : (i % 2 == 0 ? "buy" : "view")
            let amountText = i % 37 == 5 ? "n/a" : String(amount)  // rejected: not a number
            let note = i % 5 == 0 ? "\"a, b\"" : ""
            let end = i % 7 == 0 ? "\r\n" : "\n"
            out += "\(time),u\(user),\(note),\(amountText),\(kind)\(end)"
            if i % 23 == 0 { out += "\n" }
        }
        return out
    }

    /// The same kind of data as JSONL lines, with blank lines and lines the view rejects.
    static func jsonl(records: Int, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var out = ""
        var clock = t0
        for i in 0..<records {
            let user = Int.random(in: 0..<15, using: &rng)
            clock += Int64.random(in: 0...25_000, using: &rng)
            let ts = clock - Int64.random(in: 0...90_000, using: &rng)
            let amount = Double(Int.random(in: 0...1000, using: &rng)) / 10
            let time = i % 4 == 0 ? "\"\(EpochMillis.format(ts))\"" : String(ts)
            if i % 29 == 3 {
                out += "{\"user_id\":\"u\(user)\",\"amount\":\(amount)}\n"  // rejected: no timestamp
            } else {
                out += "{\"kind\":\"k\\\"\(i % 3)\",\"amount\":\(amount),\"user_id\":\"u\(user)\",\"timestamp\":\(time)}\n"
            }
            if i % 17 == 0 { out += "\n" }
        }
        return out
    }

    static func gateway(views: [FeatureView], pool: PostgresPool, redis: RedisPool) async throws -> Ingestor {
        var configuration = IngestConfiguration()
        configuration.workers = 3  // sharded by entity, as in production
        configuration.batchBytes = 2048  // many segments
        return try await Ingestor.start(views: views, postgres: pool, redis: redis, configuration: configuration, logger: Logger(label: "t"))
    }

    static func upload(_ text: String, view: String, format: UploadFormat = .csv, to ingestor: Ingestor) async throws -> UploadResult {
        try await ingestor.upload(UploadRequest(view: view, format: format)) { feeder in
            let bytes = Array(text.utf8)
            var start = 0
            while start < bytes.count {  // a few sends, so records straddle chunks
                try await feeder.send(Array(bytes[start..<min(start + 1500, bytes.count)]))
                start += 1500
            }
        }
    }

    /// Stored rows of `view` and `version` whose source starts with `prefix`.
    static func rows(pool: PostgresPool, view: String, version: Int32, source prefix: String) async throws -> [BackfillTests.Row] {
        let result = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT entity, source_partition, source_offset, (extract(epoch FROM event_ts) * 1000)::bigint, array_to_json(num)::text, array_to_json(txt)::text
                FROM capstan_feature_rows WHERE view = $1 AND definition_version = $2::int AND source_id IN (SELECT id FROM capstan_sources WHERE starts_with(name, $3))
                """, [.text(view), .int64(Int64(version)), .text(prefix)])
        }
        return try result.map { r in
            let nums = try JSONSerialization.jsonObject(with: Data((r.string(at: 4) ?? "[]").utf8)) as? [Any] ?? []
            let txts = try JSONSerialization.jsonObject(with: Data((r.string(at: 5) ?? "[]").utf8)) as? [Any] ?? []
            let values = nums.map { ($0 as? NSNumber).map { String(format: "%.9g", $0.doubleValue) } ?? "null" } + txts.map { ($0 as? String) ?? "null" }
            return BackfillTests.Row(
                entity: r.string(at: 0)!, partition: Int32(try r.int64(at: 1)!), offset: try r.int64(at: 2)!, eventTime: try r.int64(at: 3)!, values: values)
        }
    }

    @Test("a changed definition recomputes uploaded records to exactly what a fresh upload under it computes")
    func changedDefinition() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let redis = RedisPool(config: try RedisConfig(url: store.redisURL), size: 2, logger: Logger(label: "t"))
        defer { Task { await redis.close() } }
        let (b1, b2) = try BackfillTests.views(prefix: "ubfa")
        let v1 = Self.uploadable(b1, kafka: false)
        let v2 = Self.uploadable(b2, kafka: false)
        // The reference: the new definition under another name, fed the same file by the gateway.
        let reference = Self.uploadable(b2, name: "ubfa_ref", kafka: false)
        let ingestor = try await Self.gateway(views: [v1, reference], pool: store.pool, redis: redis)
        let text = Self.csv(records: 400, seed: 5)
        let uploaded = try await Self.upload(text, view: "ubfa", to: ingestor)
        #expect(uploaded.rejected > 0 && uploaded.accepted > 300)
        let fresh = try await Self.upload(text, view: "ubfa_ref", to: ingestor)
        #expect(fresh.accepted == uploaded.accepted)

        // The whole upload, so every entity's newest row is recomputed (range limits are
        // checked in `crashResume`).
        let from = Self.t0 - 86_400_000
        let to = Self.t0 + 86_400_000
        let runner = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: 60, logger: Logger(label: "t"))
        let done = try await runner.run(try await runner.start(BackfillRequest(view: "ubfa", fromMillis: from, toMillis: to, definition: v2)))
        #expect(done.definitionVersion == 2)
        #expect(done.status == "succeeded")
        #expect(done.eventsTotal == uploaded.rows && done.eventsDone == uploaded.rows)

        let expected = Set(try await Self.rows(pool: store.pool, view: "ubfa_ref", version: 1, source: "upload:"))
        let stored = try await Self.rows(pool: store.pool, view: "ubfa", version: 2, source: "upload:\(uploaded.uploadID)")
        #expect(expected.count == Int(fresh.accepted))
        #expect(stored.count == expected.count)
        #expect(Set(stored) == expected)  // entity, line, event time and every value
        #expect(Int(done.rowsWritten) == expected.count)
        // The changed expression shows in the values (amt = amount * 10 now).
        let old = Dictionary(try await Self.rows(pool: store.pool, view: "ubfa", version: 1, source: "upload:").map { ($0.offset, $0.values[0]) }) { a, _ in a }
        #expect(old.count == Int(uploaded.accepted))
        #expect(stored.allSatisfy { old[$0.offset] != nil })
        #expect(stored.contains { old[$0.offset] != $0.values[0] })
        // Online: each entity's newest recomputed values replaced the upload's (same event time).
        var newest: [String: BackfillTests.Row] = [:]
        for row in stored where newest[row.entity].map({ ($0.eventTime, $0.offset) < (row.eventTime, row.offset) }) ?? true { newest[row.entity] = row }
        let entities = newest.keys.sorted()
        let held = try await OnlineStore(pool: redis, logger: Logger(label: "t")).read(entities.map { (view: "ubfa", entity: $0, features: ["amt", "cnt_1h"]) })
        #expect(entities.count == 15)
        for (entity, values) in zip(entities, held) {
            let row = newest[entity]!
            #expect(values["_ts"] == String(row.eventTime), "entity \(entity)")
            #expect(values["amt"].flatMap(Double.init).map { String(format: "%.9g", $0) } == row.values[0], "entity \(entity)")
        }
        #expect(done.onlineUpdated >= 15)
    }

    @Test("with an unchanged definition a backfill reproduces the uploaded rows; forced again it writes nothing twice")
    func unchangedDefinition() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let redis = RedisPool(config: try RedisConfig(url: store.redisURL), size: 2, logger: Logger(label: "t"))
        defer { Task { await redis.close() } }
        let v1 = Self.uploadable(try BackfillTests.views(prefix: "ubfb").v1, kafka: false)
        let ingestor = try await Self.gateway(views: [v1], pool: store.pool, redis: redis)
        let first = try await Self.upload(Self.csv(records: 300, seed: 9), view: "ubfb", to: ingestor)
        let second = try await Self.upload(Self.jsonl(records: 200, seed: 10), view: "ubfb", format: .jsonl, to: ingestor)
        #expect(second.rejected > 0 && second.accepted > 150)
        let original = try await Self.rows(pool: store.pool, view: "ubfb", version: 1, source: "upload:")
        #expect(original.count == Int(first.accepted + second.accepted))

        // The uploads' records are stored lz4-compressed (migration 4; values too small for
        // PostgreSQL to compress at all stay plain); the replay below reads them back.
        let compression = try await store.pool.withConnection { connection in
            try await connection.query(
                "SELECT coalesce(pg_column_compression(records), 'none'), octet_length(records) FROM capstan_upload_segments WHERE view = 'ubfb' ORDER BY 2 DESC", [])
        }.map { $0.string(at: 0) ?? "" }
        #expect(compression.first == "lz4")
        #expect(!compression.contains("pglz"))

        // Lose a third of each upload's rows; the backfill must write exactly those again.
        let deleted = try await store.pool.withConnection { connection in
            try await connection.query(
                "DELETE FROM capstan_feature_rows WHERE view = 'ubfb' AND source_id IN (SELECT id FROM capstan_sources WHERE name LIKE 'upload:%') AND source_offset % 3 = 0 RETURNING 1", [])
        }.count
        #expect(deleted > 100)
        let runner = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: 64, logger: Logger(label: "t"))
        let request = BackfillRequest(view: "ubfb", fromMillis: Self.t0 - 86_400_000, toMillis: Self.t0 + 86_400_000)
        let run = try await runner.run(try await runner.start(request))
        #expect(run.definitionVersion == 1)
        #expect(Int(run.rowsWritten) == deleted)
        #expect(run.eventsDone == first.rows + second.rows)
        #expect(run.onlineUpdated == 0)  // Redis already holds these values
        var restored = try await Self.rows(pool: store.pool, view: "ubfb", version: 1, source: "upload:")
        #expect(restored.count == original.count)
        #expect(Set(restored) == Set(original))

        var forced = request
        forced.force = true
        let again = try await runner.run(try await runner.start(forced))
        #expect(again.runID != run.runID)
        #expect(again.rowsWritten == 0)
        #expect(again.eventsDone == first.rows + second.rows)
        restored = try await Self.rows(pool: store.pool, view: "ubfb", version: 1, source: "upload:")
        #expect(restored.count == original.count)

        // Lineage lists both uploads (with their counts) before the two backfills.
        let feature = try #require(v1.spec.features.first).name
        let lineage = try await LineageService(pool: store.pool).lineage(view: "ubfb", feature: feature)
        let uploads = lineage.runs.filter { $0.kind == "upload" }
        #expect(uploads.map(\.id).sorted() == [first.uploadID, second.uploadID].sorted())
        #expect(uploads.map(\.rows).reduce(0, +) == first.accepted + second.accepted)
        #expect(uploads.map(\.events).reduce(0, +) == first.rows + second.rows)
        #expect(uploads.allSatisfy { $0.status == "committed" && $0.definitionVersion == 1 && $0.startedMillis > 0 })
        #expect(lineage.runs.count == uploads.count + 2)
    }

    @Test("a backfill interrupted in its upload part resumes and equals an uninterrupted run, raw log and uploads")
    func crashResume() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let redis = RedisPool(config: try RedisConfig(url: store.redisURL), size: 2, logger: Logger(label: "t"))
        defer { Task { await redis.close() } }
        let (b1, b2) = try BackfillTests.views(prefix: "ubfc")
        let v1 = Self.uploadable(b1)
        let v2 = Self.uploadable(b2)
        let reference = Self.uploadable(b2, name: "ubfc_ref", kafka: false)
        let ingestor = try await Self.gateway(views: [v1, reference], pool: store.pool, redis: redis)
        let events = try await BackfillTests.writeRawLog(pool: store.pool, topic: "ubfc-events")
        let text = Self.csv(records: 400, seed: 21)
        let uploaded = try await Self.upload(text, view: "ubfc", to: ingestor)
        _ = try await Self.upload(text, view: "ubfc_ref", to: ingestor)

        let from = Self.t0 + 600_000
        let to = Self.t0 + 5_000_000
        let chunk = 70
        let expectedKafka = try BackfillTests.reference(v2, events: events, from: from, to: to).rows
        let expectedUpload = Set(try await Self.rows(pool: store.pool, view: "ubfc_ref", version: 1, source: "upload:").filter { $0.eventTime >= from && $0.eventTime < to })
        #expect(expectedUpload.count > 100)
        // The raw log takes ceil(events / chunk) chunks per partition; crash on the third upload chunk.
        let kafkaChunks = [Int32(0), 1].map { p in (events.filter { $0.partition == p }.count + chunk - 1) / chunk }.reduce(0, +)
        let crashAt = kafkaChunks + 3
        var crashing = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: chunk, logger: Logger(label: "t"))
        crashing.beforeChunkCommit = { number in if number == crashAt { throw CrashForTest() } }
        let request = BackfillRequest(view: "ubfc", fromMillis: from, toMillis: to, definition: v2)
        let run = try await crashing.start(request)
        await #expect(throws: CrashForTest.self) { try await crashing.run(run) }
        let partial = try await crashing.progress(run)
        #expect(partial.status == "failed")
        #expect(partial.eventsDone == Int64(events.count + 2 * chunk))
        let partialUpload = try await Self.rows(pool: store.pool, view: "ubfc", version: 2, source: "upload:")
        #expect(partialUpload.count > 0 && partialUpload.count < expectedUpload.count)

        let resumer = BackfillRunner(pool: store.pool, redis: redis, chunkEvents: chunk, logger: Logger(label: "t"))
        #expect(try await resumer.start(request) == run)
        let done = try await resumer.run(run)
        #expect(done.status == "succeeded")
        #expect(done.eventsTotal == Int64(events.count) + uploaded.rows)
        #expect(done.eventsDone == done.eventsTotal)
        #expect(done.fraction == 1)
        let storedKafka = try await Self.rows(pool: store.pool, view: "ubfc", version: 2, source: "kafka:")
        let storedUpload = try await Self.rows(pool: store.pool, view: "ubfc", version: 2, source: "upload:\(uploaded.uploadID)")
        #expect(storedKafka.count == expectedKafka.count && Set(storedKafka) == expectedKafka)
        #expect(storedUpload.count == expectedUpload.count)  // no duplicates from the replayed chunk
        #expect(Set(storedUpload) == expectedUpload)
        #expect(Int(done.rowsWritten) == expectedKafka.count + expectedUpload.count)
    }
}
