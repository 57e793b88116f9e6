import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanStore
import CapstanStoreTestSupport
import Foundation
import Logging
import Testing

/// Offline rows written to PostgreSQL and, in the same order, to a CSV for the reference.
struct RowWriter {
    var batch = OfflineBatch(groupID: "test")
    var csv = "view,version,entity,event_ms,created_us,offset,f1,f2,t,g1\n"
    var offset: Int64 = 0

    mutating func add(view: String, version: Int32, entity: String, event: Int64, created: Int64, numbers: [Double?], texts: [String?], csvValues: [String]) {
        offset += 1
        let values = numbers.map { $0.map(FeatureValue.number) ?? .null } + texts.map { $0.map(FeatureValue.string) ?? .null }
        batch.appendFeatureRow(
            view: view, entity: entity, eventTimeMillis: event, createdMillis: created, definitionVersion: version, sourceID: 1,
            partition: 0, offset: offset, values: values, numeric: Array(numbers.indices), strings: Array(numbers.count..<values.count))
        csv += "\(view),\(version),\(entity),\(event),\(created * 1000),\(offset),\(csvValues.joined(separator: ","))\n"
    }
}

@Suite("Point-in-time training sets", .timeLimit(.minutes(5)))
struct TrainingSetTests {
    static let t0: Int64 = 1_790_000_000_000

    static func views() throws -> (pa1: FeatureView, pa2: FeatureView, pb: FeatureView) {
        let pa1 = try Fixtures.view("pa", features: [
            FeatureSpec(name: "f1", expr: "amount"), FeatureSpec(name: "f2", expr: "amount * 2"), FeatureSpec(name: "t", expr: "kind"),
        ])
        let pa2 = try Fixtures.view("pa", features: [
            FeatureSpec(name: "f1", expr: "amount"), FeatureSpec(name: "f2", expr: "amount * 3"), FeatureSpec(name: "t", expr: "kind"),
        ])
        let pb = try Fixtures.view("pb", features: [FeatureSpec(name: "g1", expr: "amount")], ttl: "30m")
        return (pa1, pa2, pb)
    }

    /// Random offline rows with ties on event time (broken by created time, then offset), late
    /// arrivals (created long after their event time), nulls, two definition versions of `pa`
    /// and a TTL on `pb`; random labels, many exactly on or just before a row's event time.
    static func randomData(pool: PostgresPool, seed: UInt64) async throws -> (labels: String, features: String) {
        let (pa1, pa2, pb) = try views()
        #expect(try await Fixtures.register([pa1, pb], pool: pool) == [1, 1])
        #expect(try await Fixtures.register([pa2, pb], pool: pool) == [2, 1])
        var rng = SplitMix64(seed: seed)
        let entities = (0..<40).map { "u\($0)" }
        let span: Int64 = 10 * 3_600_000
        var rows = RowWriter()
        var events: [(String, Int64, Int64)] = []  // entity, event, created of earlier rows, for ties
        for (view, version, count) in [("pa", Int32(1), 2500), ("pa", Int32(2), 2500), ("pb", Int32(1), 1500)] {
            for _ in 0..<count {
                var entity = entities.randomElement(using: &rng)!
                var event = t0 + Int64.random(in: 0..<span, using: &rng)
                // Late arrival: created up to 5h after the event; a tie copies an earlier event time.
                var created = event + Int64.random(in: 0...18_000_000, using: &rng)
                if !events.isEmpty && Int.random(in: 0..<4, using: &rng) == 0 {
                    let earlier = events.randomElement(using: &rng)!
                    entity = earlier.0
                    event = earlier.1
                    created = earlier.2 + Int64.random(in: -2...3, using: &rng)
                }
                events.append((entity, event, created))
                let amount: Double? = Int.random(in: 0..<10, using: &rng) == 0 ? nil : Double(Int.random(in: -5000...5000, using: &rng)) / 8
                let kind: String? = Int.random(in: 0..<8, using: &rng) == 0 ? nil : ["click", "buy, now", "say \"hi\""].randomElement(using: &rng)!
                let a = amount.map { "\($0)" } ?? ""
                if view == "pa" {
                    let f2 = amount.map { $0 * (version == 1 ? 2 : 3) }
                    let quoted = kind.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" } ?? ""
                    rows.add(view: view, version: version, entity: entity, event: event, created: created, numbers: [amount, f2], texts: [kind],
                             csvValues: [a, f2.map { "\($0)" } ?? "", quoted, ""])
                } else {
                    rows.add(view: view, version: version, entity: entity, event: event, created: created, numbers: [amount], texts: [],
                             csvValues: ["", "", "", a])
                }
            }
        }
        try await OfflineStore(pool: pool, logger: Logger(label: "t")).commit(rows.batch)
        var labels = "row_id,entity,timestamp,label,note\n"
        for i in 0..<1500 {
            let entity: String
            let ts: Int64
            switch Int.random(in: 0..<8, using: &rng) {
            case 0, 1:
                let e = events.randomElement(using: &rng)!
                (entity, ts) = (e.0, e.1)  // exactly on an event time
            case 2:
                let e = events.randomElement(using: &rng)!
                (entity, ts) = (e.0, e.1 - 1)  // just before it
            case 3:
                (entity, ts) = ("ghost\(i % 3)", t0 + Int64.random(in: 0..<span, using: &rng))  // no rows at all
            default:
                (entity, ts) = (entities.randomElement(using: &rng)!, t0 + Int64.random(in: -3_600_000..<(span + 3_600_000), using: &rng))
            }
            labels += "\(i),\(entity),\(ts),\(Int.random(in: 0...1, using: &rng)),\"n, \(i)\"\n"
        }
        return (labels, rows.csv)
    }

    static func compareWithDuckDB(labels: String, features: String, ours: String, spec: String) async throws -> (compared: Int, mismatches: Int, report: String) {
        let dir = NSTemporaryDirectory() + "pit-ref-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try labels.write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        try features.write(toFile: dir + "/features.csv", atomically: true, encoding: .utf8)
        try ours.write(toFile: dir + "/ours.csv", atomically: true, encoding: .utf8)
        try spec.write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
        let output = try await Fixtures.python("pit_reference.py", [dir + "/features.csv", dir + "/labels.csv", dir + "/ours.csv", dir + "/spec.json"])
        let first = output.split(separator: "\n").first.map(String.init) ?? ""
        let numbers = first.split(separator: " ").compactMap { $0.split(separator: "=").last.flatMap { Int($0) } }
        guard numbers.count == 2 else { throw CapstanError(.parse, "unexpected reference output: \(output)") }
        return (numbers[0], numbers[1], output)
    }

    @Test("matches DuckDB's ASOF JOIN on random data with ties, late arrivals, nulls and a TTL (latest and pinned versions)")
    func matchesDuckDB() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (labels, features) = try await Self.randomData(pool: store.pool, seed: 42)
        let requested = try ["pa:f1", "pb:g1", "pa:t", "pa:f2"].map { try FeatureRef(parsing: $0) }
        for pinned: Int32? in [nil, 1] {
            for parallelism in [1, 3] {
                let request = TrainingSetRequest(features: requested, pins: pinned.map { ["pa": $0] } ?? [:], parallelism: parallelism)
                let (ours, stats) = try await Fixtures.trainingSet(labels, request, pool: store.pool)
                let version = pinned ?? 2
                #expect(stats.versions == ["pa": version, "pb": 1])
                #expect(ours.hasPrefix("row_id,entity,timestamp,label,note,pa:f1,pb:g1,pa:t,pa:f2\n"))
                let spec = """
                    [{"view": "pa", "version": \(version), "ttl_ms": 0, "columns": [
                       {"name": "pa:f1", "source": "f1", "text": false}, {"name": "pa:t", "source": "t", "text": true},
                       {"name": "pa:f2", "source": "f2", "text": false}]},
                     {"view": "pb", "version": 1, "ttl_ms": 1800000, "columns": [{"name": "pb:g1", "source": "g1", "text": false}]}]
                    """
                let result = try await Self.compareWithDuckDB(labels: labels, features: features, ours: ours, spec: spec)
                #expect(result.compared == 1500 * 4, "\(result.report)")
                #expect(result.mismatches == 0, "\(result.report)")
                // The label file's own columns come back unchanged (quoted where needed).
                #expect(ours.contains(",\"n, 7\","))
            }
        }
    }

    @Test("no value from after a label's timestamp is ever used")
    func noLeakage() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let view = try Fixtures.view("leak", features: [FeatureSpec(name: "seen_at", expr: "event_time")])
        #expect(try await Fixtures.register([view], pool: store.pool) == [1])
        var rng = SplitMix64(seed: 7)
        var rows = RowWriter()
        var byEntity: [String: [Int64]] = [:]
        for _ in 0..<4000 {
            let entity = "e\(Int.random(in: 0..<25, using: &rng))"
            let event = Self.t0 + Int64.random(in: 0..<86_400_000, using: &rng)
            // Rows arrive in any order, many long after their event time: arrival must not matter.
            let created = Self.t0 + Int64.random(in: 0..<(2 * 86_400_000), using: &rng)
            byEntity[entity, default: []].append(event)
            rows.add(view: "leak", version: 1, entity: entity, event: event, created: created, numbers: [Double(event)], texts: [], csvValues: [])
        }
        try await OfflineStore(pool: store.pool, logger: Logger(label: "t")).commit(rows.batch)
        var labels = "entity,timestamp\n"
        var expected: [Int64?] = []
        for _ in 0..<3000 {
            let entity = "e\(Int.random(in: 0..<25, using: &rng))"
            let ts = Self.t0 + Int64.random(in: -3_600_000..<(86_400_000 + 3_600_000), using: &rng)
            labels += "\(entity),\(EpochMillis.format(ts))\n"
            expected.append(byEntity[entity]?.filter { $0 <= ts }.max())
        }
        let (ours, _) = try await Fixtures.trainingSet(labels, TrainingSetRequest(features: [FeatureRef(view: "leak", feature: "seen_at")]), pool: store.pool)
        let out = Fixtures.rows(ours)
        #expect(out.count == 3001)
        var leaks = 0
        var wrong = 0
        for (i, row) in out.dropFirst().enumerated() {
            guard let ts = Timestamps.parseRFC3339(row[1]) else {
                Issue.record("unreadable timestamp \(row[1])")
                continue
            }
            let value = row[2].isEmpty ? nil : Int64(row[2])
            if let value, value > ts { leaks += 1 }
            if value != expected[i] { wrong += 1 }
        }
        #expect(leaks == 0)
        #expect(wrong == 0)
    }

    @Test("errors name what is wrong and where")
    func errors() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (pa1, _, _) = try Self.views()
        _ = try await Fixtures.register([pa1], pool: store.pool)
        let request = TrainingSetRequest(features: [FeatureRef(view: "pa", feature: "nope")])
        await #expect(throws: CapstanError.self) { try await Fixtures.trainingSet("entity,timestamp\nu1,5\n", request, pool: store.pool) }
        do {
            _ = try await Fixtures.trainingSet("entity,timestamp\nu1,5\n", request, pool: store.pool)
        } catch let error as CapstanError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("has no feature 'nope'") && error.message.contains("f1, f2, t"))
        }
        let pinned = TrainingSetRequest(features: [FeatureRef(view: "pa", feature: "f1")], pins: ["pa": 9])
        await #expect(throws: CapstanError(.notFound, "FeatureView 'pa' has no definition version 9 (versions: 1)")) {
            try await Fixtures.trainingSet("entity,timestamp\nu1,5\n", pinned, pool: store.pool)
        }
        var builder = LabelTableBuilder()
        #expect(throws: CapstanError(.invalidArgument, "label file line 3: 'timestamp' value 'yesterday' is neither an RFC 3339 timestamp nor epoch milliseconds")) {
            try builder.feed(Array("entity,timestamp\nu1,5\nu2,yesterday\n".utf8))
        }
        var missing = LabelTableBuilder(columns: LabelColumns(entity: "user", timestamp: "ts"))
        #expect(throws: CapstanError.self) { try missing.feed(Array("entity,timestamp\n".utf8)) }
        var ragged = LabelTableBuilder()
        #expect(throws: CapstanError(.invalidArgument, "label file line 2: 3 fields, the header has 2")) {
            try ragged.feed(Array("entity,timestamp\nu1,5,extra\n".utf8))
        }
        #expect(throws: CapstanError.self) { try FeatureRef(parsing: "no_separator") }
    }

    @Test("a label file with no rows gives just the header")
    func emptyLabels() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (pa1, _, _) = try Self.views()
        _ = try await Fixtures.register([pa1], pool: store.pool)
        let (ours, stats) = try await Fixtures.trainingSet(
            "entity,timestamp,label\n", TrainingSetRequest(features: [FeatureRef(view: "pa", feature: "f1")]), pool: store.pool)
        #expect(ours == "entity,timestamp,label,pa:f1\n")
        #expect(stats.labelRows == 0)
    }
}
