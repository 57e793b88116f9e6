import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanPostgres
import Foundation
import Testing

@Suite("Drift result store against PostgreSQL", .timeLimit(.minutes(5)))
struct DriftResultStoreTests {
    static func count(_ store: DriftResultStore, _ sql: String) async throws -> Int64 {
        try await store.pool.withConnection { try await $0.query(sql) }.first?.int64(at: 0) ?? -1
    }

    static func counts(_ store: DriftResultStore) async throws -> [Int64] {
        var out: [Int64] = []
        for table in ["capstan_drift_runs", "capstan_drift_results", "capstan_drift_quality"] {
            out.append(try await count(store, "SELECT count(*) FROM \(table)"))
        }
        return out
    }

    @Test("a run is stored as one run row, a row per feature and scope, and its quality findings")
    func rowsPerScope() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let result = DriftFixtures.run(chunks: 2)
        #expect(try await store.write(result))

        let perFeature = try await store.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT feature,
                       count(*) FILTER (WHERE chunk IS NULL AND segment_field IS NULL) AS whole,
                       count(*) FILTER (WHERE chunk IS NOT NULL) AS chunks,
                       count(*) FILTER (WHERE segment_field IS NOT NULL) AS segments,
                       count(DISTINCT chunk) AS distinct_chunks,
                       count(DISTINCT segment_value) AS distinct_segments
                FROM capstan_drift_results WHERE run_id = $1 GROUP BY feature ORDER BY feature
                """, [.text(result.runID)])
        }
        #expect(perFeature.map(\.values) == [
            ["city", "1", "2", "2", "2", "2"], ["distance", "1", "2", "2", "2", "2"], ["fare", "1", "2", "2", "2", "2"],
            ["tip", "1", "0", "0", "0", "0"],
        ])

        let chunk = try await store.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT method, p_value, statistic, threshold, decision, reference_count, current_count,
                       chunk_from = '2026-12-06T12:00:00Z'::timestamptz AS from_ok, chunk_to = '2026-12-07T00:00:00Z'::timestamptz AS to_ok
                FROM capstan_drift_results WHERE run_id = $1 AND feature = 'fare' AND chunk = 1
                """, [.text(result.runID)])
        }
        #expect(chunk.map(\.values) == [["ks", "0.02", "0.2", "0.05", "drifted", "1000", "400", "t", "t"]])
        let segment = try await store.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT score, lower, upper, decision FROM capstan_drift_results
                WHERE run_id = $1 AND feature = 'distance' AND segment_field = 'pickup_zone' AND segment_value = 'queens'
                """, [.text(result.runID)])
        }
        #expect(segment.map(\.values) == [["0.12", nil, nil, "drifted"]])
        let notComputed = try await store.pool.withConnection { connection in
            try await connection.query(
                "SELECT method, score, decision, reason FROM capstan_drift_results WHERE run_id = $1 AND feature = 'tip'", [.text(result.runID)])
        }
        #expect(notComputed.map(\.values) == [[nil, nil, "not_computed", "the current window has no values"]])

        let run = try await store.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT namespace, policy, generation, total_features, drifted_features, dataset_drift, quality_problems,
                       performance_degraded, reference_rows, current_rows,
                       started_at = '2026-12-07T00:00:00.25Z'::timestamptz AS started_ok,
                       current_from = '2026-12-06T00:00:00Z'::timestamptz AS current_ok,
                       result->>'runID' AS json_id
                FROM capstan_drift_runs
                """)
        }
        #expect(run.map(\.values) == [["default", "trips", "3", "4", "2", "t", "1", "t", "7000", "800", "t", "t", result.runID]])
        let quality = try await store.pool.withConnection { connection in
            try await connection.query("SELECT check_name, feature, value, limit_value, violated FROM capstan_drift_quality ORDER BY ordinal")
        }
        #expect(quality.map(\.values) == [
            ["missing_share", "fare", "0.12", "0.05", "t"], ["out_of_range_share", "distance", "0", "0.01", "f"],
            ["staleness_seconds", nil, "120", nil, "f"], ["volume_change", nil, "-0.05", "0.5", "f"],
        ])
    }

    @Test("writing the same run id twice adds nothing, even with different content")
    func idempotentWrite() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let result = DriftFixtures.run()
        #expect(try await store.write(result))
        let before = try await Self.counts(store)
        #expect(before == [1, 16, 4])
        #expect(try await store.write(result) == false)
        var changed = DriftFixtures.run(chunks: 0, fareScore: 0.9)
        changed.quality = []
        #expect(try await store.write(changed) == false)
        #expect(try await Self.counts(store) == before)
        #expect(try await store.run(id: result.runID) == result)
    }

    @Test("concurrent writers of one run store it once")
    func concurrentWrites() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let result = DriftFixtures.run()
        let stored = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 { group.addTask { try await store.write(result) } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(stored.filter { $0 }.count == 1 && stored.count == 2)
        #expect(try await Self.counts(store) == [1, 16, 4])
    }

    @Test("a time that is not RFC 3339 is refused before anything is written")
    func badTime() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        var result = DriftFixtures.run()
        result.chunks[1].window.to = "yesterday"
        await #expect(throws: CapstanError.self) { try await store.write(result) }
        #expect(try await Self.counts(store) == [0, 0, 0])
    }

    @Test("history lists a policy's runs newest first, all or per feature, up to the limit")
    func history() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        // Written out of order; the third day's run started last.
        for (day, fare) in [(8, 0.03), (9, 0.5), (7, 0.001)] {
            try await store.write(DriftFixtures.run(
                id: "trips-202612\(String(format: "%02d", day))", startedAt: "2026-12-\(String(format: "%02d", day))T00:00:00Z",
                finishedAt: "2026-12-\(String(format: "%02d", day))T00:00:05Z", fareScore: fare))
        }
        try await store.write(DriftFixtures.run(id: "other-1", policy: "other", startedAt: "2026-12-10T00:00:00Z"))
        try await store.write(DriftFixtures.run(id: "elsewhere-1", namespace: "ops", startedAt: "2026-12-11T00:00:00Z"))

        let all = try await store.history(namespace: "default", policy: "trips")
        #expect(all.map(\.run.runID) == ["trips-20261209", "trips-20261208", "trips-20261207"])
        #expect(all.allSatisfy { $0.results.map(\.feature) == ["fare", "distance", "city", "tip"] && $0.results.allSatisfy { $0.scope == .wholeWindow } })
        #expect(all.allSatisfy { $0.quality.count == 4 })
        #expect(all[0].run.startedAt == 1_796_774_400_000)  // 2026-12-09T00:00:00Z

        let fare = try await store.history(namespace: "default", policy: "trips", feature: "fare", limit: 2)
        #expect(fare.map(\.run.runID) == ["trips-20261209", "trips-20261208"])
        #expect(fare.map { $0.results.map(\.score.score) } == [[0.5], [0.03]])
        #expect(fare.map { $0.results.map(\.score.decision) } == [[.drifted], [.drifted]])

        #expect(try await store.history(namespace: "default", policy: "trips", feature: "no_such_feature").isEmpty)
        #expect(try await store.history(namespace: "default", policy: "nobody").isEmpty)
        await #expect(throws: CapstanError.self) { _ = try await store.history(namespace: "default", policy: "trips", limit: 0) }
    }

    @Test("latestRuns picks the newest run of each policy, with all its rows")
    func latestRuns() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        #expect(try await store.latestRuns().isEmpty)
        let newest = DriftFixtures.run(id: "trips-b", startedAt: "2026-12-09T00:00:00Z", finishedAt: "2026-12-09T00:01:00Z", fareScore: 0.04)
        for result in [
            DriftFixtures.run(id: "trips-a", startedAt: "2026-12-08T00:00:00Z"), newest,
            DriftFixtures.run(id: "trips-0", startedAt: "2026-12-07T00:00:00Z"),
            DriftFixtures.run(id: "fraud-a", namespace: "risk", policy: "fraud", startedAt: "2026-12-01T00:00:00Z", chunks: 0),
            DriftFixtures.run(id: "aaa-1", namespace: "default", policy: "aaa", startedAt: "2026-12-05T00:00:00Z", performance: false),
        ] {
            try await store.write(result)
        }
        let latest = try await store.latestRuns()
        #expect(latest.map(\.run.runID) == ["aaa-1", "trips-b", "fraud-a"])
        #expect(latest[1] == (try StoredDriftRun(newest)), "the stored rows read back equal the rows written")
        #expect(latest[1].results.count == 16)
        #expect(latest[2].results.count == 10)
        #expect(latest[0].run.performanceDegraded == nil)
        #expect(latest[1].run.finishedAt == 1_796_774_460_000)

        // What `capstan-drift serve` exports from them.
        let text = DriftMetrics.render(latest)
        #expect(text.contains(#"capstan_drift_score{namespace="default",policy="trips",feature="fare",method="ks"} 0.04"#))
        #expect(!text.contains(#"policy="trips",feature="fare",method="ks"} 0.001"#))
    }

    @Test("run(id:) returns the stored result exactly, including extreme and non-finite numbers")
    func runRoundTrip() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        var result = DriftFixtures.run(fareScore: 1e-300)
        result.features[2].score.statistic = .infinity
        result.features[1].score.score = 0.1 + 0.2
        result.segments[0].value = "Saint \"Quote\" \\ é\nnext"
        result.finishedAt = "2026-12-07T01:00:03.5+01:00"
        #expect(try await store.write(result))
        #expect(try await store.run(id: result.runID) == result)
        #expect(try await store.run(id: "missing") == nil)
        let stored = try await store.latestRuns()
        #expect(stored == [try StoredDriftRun(result)])
        #expect(stored.first?.run.finishedAt == 1_796_601_603_500, "an offset time is the same instant in UTC")
    }

    @Test("migrations use their own ledger and can be applied again")
    func migrations() async throws {
        let store = try await DriftTestDatabase.shared.freshStore()
        defer { Task { await store.pool.close() } }
        try await store.migrate()
        #expect(try await Self.count(store, "SELECT count(*) FROM capstan_drift_migrations") == Int64(DriftSchema.migrations.count))
        #expect(try await Self.count(store, "SELECT count(*) FROM pg_tables WHERE tablename = 'capstan_schema_migrations'") == 0)
    }
}
