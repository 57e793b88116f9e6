import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanOffline
import CapstanPostgres
import Foundation
import Logging
import Testing

/// Stored profiles in runs against PostgreSQL: a reference read from day profiles decides as
/// the run on rows does, and a training set's profile serves as `reference.trainingSet`.
@Suite("Drift runs with stored profiles", .timeLimit(.minutes(5)))
struct DriftProfileRunTests {
    static let logger = Logger(label: "capstan.drift.profiles.test")

    static func options(_ pool: PostgresPool, exact: Bool = false) -> DriftProfileOptions {
        DriftProfileOptions(store: DriftProfileStore(pool: pool, logger: logger), forceExact: exact, logger: logger)
    }

    static func decisions(_ result: DriftRunResult) -> [String: DriftDecision] {
        Dictionary(uniqueKeysWithValues: result.features.map { ($0.feature, $0.decision) })
    }

    @Test("a reference read from stored day profiles gives the decisions of the run on rows, and says how exact each score is")
    func storedProfilesDecideAsRows() async throws {
        let (pool, _) = try await freshOfflineStore()
        try await DriftProfileStore(pool: pool, logger: Self.logger).migrate()
        // Enough rows that the merged sketches compact: the scores are estimates with bounds.
        let data = TripData(seed: 23, referenceRows: 14_000, currentRows: 3000)
        try await data.insert(into: pool)
        let policy = try DriftRunnerTests.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")))
        let exact = try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now)

        // First run: nothing stored, rows are read and the six whole days inside the reference stored.
        let first = try await DriftRunner(source: DriftWindowReader(pool: pool), profiles: Self.options(pool)).run(policy, now: TripData.now)
        #expect(first.features.allSatisfy { $0.score.profile == nil })
        #expect(Self.decisions(first) == Self.decisions(exact))
        let stored = try await pool.withConnection { c in
            try await c.query("SELECT count(DISTINCT chunk_from)::bigint AS days, count(*)::bigint AS n FROM capstan_drift_profiles WHERE scope = 'view'").first
        }
        #expect(try stored?.int64("days") == 6)
        #expect(try stored?.int64("n") == Int64(6 * (TripData.numeric.count + TripData.categorical.count)))

        // Second run: the six days come from profiles, the two half days at the edges from rows.
        let profiled = try await DriftRunner(source: DriftWindowReader(pool: pool), profiles: Self.options(pool)).run(policy, now: TripData.now)
        #expect(profiled.reference.rows == exact.reference.rows)
        #expect(profiled.reference.from == exact.reference.from && profiled.reference.to == exact.reference.to)
        #expect(profiled.dataset.drifted == exact.dataset.drifted)
        for (a, b) in zip(profiled.features, exact.features) {
            #expect(a.feature == b.feature)
            #expect(a.score.method == b.score.method, "\(a.feature)")
            let note = try #require(a.score.profile, "\(a.feature) has no profile note")
            if let lower = note.lower, let upper = note.upper, let score = b.score.score {
                #expect(lower - 1e-9 <= score && score <= upper + 1e-9, "\(a.feature): \(score) outside [\(lower), \(upper)]")
            }
            if !note.nearThreshold { #expect(a.decision == b.decision, "\(a.feature)") }
        }
        #expect(Self.decisions(profiled)["fare"] == .drifted)
        #expect(profiled.features.contains { $0.score.profile?.exact == false })
        // Quality against the profile's min/max and categories finds what the rows find.
        let newCity = profiled.quality.first { $0.check == .newCategoryShare && $0.feature == "city" }
        #expect(newCity?.message.contains("<madrid & co>") == true)
        #expect(profiled.quality.count == exact.quality.count)

        // Forced exact: rows again, the same as the run without profiles.
        let forced = try await DriftRunner(source: DriftWindowReader(pool: pool), profiles: Self.options(pool, exact: true)).run(policy, now: TripData.now)
        #expect(forced.features.map(\.score.score) == exact.features.map(\.score.score))
        await pool.close()
    }

    @Test("a training set profiled when it is built is the reference of reference.trainingSet")
    func trainingSetReference() async throws {
        let (pool, _) = try await freshOfflineStore()
        let store = DriftProfileStore(pool: pool, logger: Self.logger)
        try await store.migrate()
        let data = TripData(seed: 31, referenceRows: 3000, currentRows: 1500)
        try await data.insert(into: pool)
        let policy = try DriftRunnerTests.policy(reference: DriftReference(trainingSet: "trips-train"))
        let runner = DriftRunner(source: DriftWindowReader(pool: pool), profiles: Self.options(pool))
        await #expect { try await runner.run(policy, now: TripData.now) } throws: { "\($0)".contains("no profile of training set 'trips-train'") }

        // The training set: the reference rows' entities at their event times (epoch ms, rounded up).
        var labels = "entity,timestamp\n"
        for row in data.reference { labels += "\(row.entity),\((row.micros + 999) / 1000)\n" }
        var builder = LabelTableBuilder()
        try builder.feed(Array(labels.utf8))
        let features = (TripData.numeric + TripData.categorical).map { FeatureRef(view: "trips", feature: $0) }
        let set = try await TrainingSetBuilder(pool: pool, logger: Self.logger).build(labels: try builder.finish(), request: TrainingSetRequest(features: features))
        #expect(try await TrainingSetProfiler.store(set, name: "trips-train", modelVersion: "v1", in: store) == features.count)
        // Built again: replaced, not added.
        try await TrainingSetProfiler.store(set, name: "trips-train", modelVersion: "v1", in: store)
        #expect(try await store.trainingSet(name: "trips-train", view: "trips").count == features.count)

        let result = try await runner.run(policy, now: TripData.now)
        let rolling = try await DriftRunner(source: DriftWindowReader(pool: pool))
            .run(try DriftRunnerTests.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d"))), now: TripData.now)
        #expect(result.reference.rows == data.reference.count)
        // The same rows as the rolling week: the same scores (the profiles hold them exactly).
        for (a, b) in zip(result.features, rolling.features) {
            #expect(a.decision == b.decision, "\(a.feature)")
            #expect(a.score.profile?.exact == true, "\(a.feature)")
            if let x = a.score.score, let y = b.score.score { #expect(abs(x - y) <= 1e-9 * max(1, abs(y)), "\(a.feature): \(x) vs \(y)") }
        }
        #expect(Self.decisions(result)["fare"] == .drifted)
        // Segments need the reference's rows, which a training set does not keep.
        var segmented = policy
        segmented.spec.segments = ["city"]
        await #expect { try await runner.run(segmented, now: TripData.now) } throws: { "\($0)".contains("profiles only") }
        await pool.close()
    }
}
