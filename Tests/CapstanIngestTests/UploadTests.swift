import CZlib
import CapstanCore
import CapstanIngest
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Testing

@Suite("Batch uploads: CSV/JSONL → engine → PostgreSQL + Redis", .serialized, .timeLimit(.minutes(5)))
struct UploadTests {
    @Test("good CSV rows land exactly as the stream's engine computes them; bad rows are rejected with line and reason")
    func csvRowsAndRejects() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        var events = TestData.events(count: 600, seed: 7)
        // Bad records at known lines (line = index + 2, the header is line 1).
        events[10].amount = "12,5"          // splits into an extra column
        events[20].amount = "abc"           // not a number
        events[30].action = ""              // required field empty
        events[40].timestamp = "yesterday"  // not a timestamp
        var csv = TestData.csv(events)
        // A late event: 3h behind its user's newest (allowedLateness is 1h).
        let late = TestData.Event(user: events[599].user, action: "click", amount: "1", timestamp: EpochMillis.format(1_780_000_000_000 - 3 * 3_600_000))
        csv += "\(late.user),\(late.action),\(late.amount),\(late.timestamp)\n"
        let result = try await gw.upload(Array(csv.utf8), format: .csv)

        #expect(result.rows == 601)
        #expect(result.rejected == 5)
        #expect(result.accepted == 596)
        let byLine = Dictionary(uniqueKeysWithValues: result.rejects.map { ($0.line, $0.reason) })
        #expect(byLine[12]?.contains("expected 4 columns") == true)
        #expect(byLine[22]?.contains("'amount' must be a number, got \"abc\"") == true)
        #expect(byLine[32]?.contains("action") == true)
        #expect(byLine[42]?.contains("not an RFC 3339 timestamp") == true)
        #expect(byLine[602]?.contains("allowedLateness") == true)
        #expect(try await gw.count("capstan_upload_rejects") == 5)
        let stored = try await gw.query("SELECT line, reason, record FROM capstan_upload_rejects WHERE line = 22")
        #expect(stored.first?.string(at: 2)?.contains("abc") == true)

        // Offline rows equal one sequential processor over the same events as JSON.
        var jsonEvents: [(line: Int64, json: String)] = []
        for (i, e) in events.enumerated() where ![10, 20, 30, 40].contains(i) { jsonEvents.append((Int64(i + 2), TestData.json(e))) }
        jsonEvents.append((602, TestData.json(late)))
        let reference = try gw.reference(jsonEvents)
        #expect(reference.rejectedLines == [602])
        let rows = try await gw.storedRows()
        #expect(rows.count == 596)
        #expect(rows == reference.rows)
        #expect(result.minEventTimeMillis != nil && result.minEventTimeMillis! <= result.maxEventTimeMillis!)
        // Raw records are kept for backfills: every data line once.
        let segments = try await gw.query("SELECT sum(record_count), min(first_line), max(last_line) FROM capstan_upload_segments")
        #expect(try segments.first?.int64(at: 0) == 601)
        #expect(try segments.first?.int64(at: 1) == 2)
        #expect(try segments.first?.int64(at: 2) == 602)
    }

    @Test("JSONL and gzip give the same rows as CSV")
    func jsonlAndGzip() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        let events = TestData.events(count: 400, seed: 11)
        let gz = try Self.gzip(Array(TestData.jsonl(events).utf8))
        let result = try await gw.upload(gz, format: .jsonl, gzip: true, chunk: 333)
        #expect(result.accepted == 400 && result.rejected == 0)
        let reference = try gw.reference(events.enumerated().map { (Int64($0.offset + 1), TestData.json($0.element)) })
        #expect(try await gw.storedRows() == reference.rows)

        let bad = Array("{\"user_id\":\"u1\",\"action\":\"click\",\"timestamp\":\"2026-01-01T00:00:00Z\"}\n{not json}\n".utf8)
        let mixed = try await gw.upload(try Self.gzip(bad), format: .jsonl, gzip: true)
        #expect(mixed.accepted == 1 && mixed.rejected == 1)
        #expect(mixed.rejects.first?.line == 2)

        await #expect(throws: CapstanError.self) {
            _ = try await gw.upload(Array("user_id\n".utf8), format: .csv, gzip: true)  // not gzip at all
        }
    }

    @Test("re-uploading the same content or upload id adds nothing")
    func idempotent() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        let csv = Array(TestData.csv(TestData.events(count: 300, seed: 3)).utf8)
        let first = try await gw.upload(csv, format: .csv, id: "batch-1")
        #expect(!first.duplicate && first.accepted == 300)
        let again = try await gw.upload(csv, format: .csv)
        #expect(again.duplicate && again.uploadID == "batch-1" && again.accepted == 300)
        let sameID = try await gw.upload(csv, format: .csv, id: "batch-1")
        #expect(sameID.duplicate)
        #expect(try await gw.count("capstan_feature_rows") == 300)
        #expect(try await gw.count("capstan_uploads") == 1)
        // The upload id is the idempotency key: a retry under the same id returns the committed
        // upload without reading the body, whatever it holds.
        let other = Array(TestData.csv(TestData.events(count: 10, seed: 99)).utf8)
        let retried = try await gw.upload(other, format: .csv, id: "batch-1")
        #expect(retried.duplicate && retried.contentSHA256 == first.contentSHA256)
        #expect(try await gw.count("capstan_feature_rows") == 300)
        #expect(try await gw.query("SELECT count(*) FROM capstan_upload_segments WHERE upload_id <> 'batch-1'").first?.int64(at: 0) == 0)
    }

    @Test("online values change only where the upload is newer than Redis")
    func onlineOnlyNewer() async throws {
        let gw = try await TestGateway.make()
        defer { Task { await gw.close() } }
        let redis = try await RedisConnection.connect(try RedisConfig(url: gw.redisURL), logger: .init(label: "t"))
        let fresh = OnlineLayout.key(view: gw.view, entity: "fresh")
        let stale = OnlineLayout.key(view: gw.view, entity: "stale")
        _ = try await redis.command(["HSET", fresh, "_ts", "1900000000000", "amount_eur", "999"])
        _ = try await redis.command(["HSET", stale, "_ts", "1000", "amount_eur", "1"])
        let csv = """
            user_id,action,amount,timestamp
            fresh,purchase,10,2026-06-01T00:00:00Z
            stale,purchase,20,2026-06-01T00:00:00Z
            stale,click,30,2026-06-01T00:10:00Z
            other,view,,2026-06-01T00:00:00Z

            """
        let result = try await gw.upload(Array(csv.utf8), format: .csv)
        #expect(result.accepted == 4)
        #expect(result.onlineWritten == 2)
        func field(_ key: String, _ name: String) async throws -> String? {
            if case .bulk(let b) = try await redis.command(["HGET", key, name]) { return String(decoding: b, as: UTF8.self) }
            return nil
        }
        #expect(try await field(fresh, "amount_eur") == "999")
        #expect(try await field(fresh, "_ts") == "1900000000000")
        #expect(try await field(stale, "amount_eur") == "30")
        #expect(try await field(stale, "spend_1h") == "50")
        #expect(try await field(OnlineLayout.key(view: gw.view, entity: "other"), "amount_eur") == "0")
        await redis.close()
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let deflater = try GzipDeflater()
        var out: [UInt8] = []
        bytes.withUnsafeBytes { deflater.deflate($0, finish: true, into: &out) }
        return out
    }
}
