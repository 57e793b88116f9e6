import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanPostgres
import CapstanStore
import Foundation
import Logging
import Testing

/// A fresh database with the offline store's and the drift results' migrations.
func freshOfflineStore() async throws -> (pool: PostgresPool, url: String) {
    let (store, url) = try await DriftTestDatabase.shared.freshStoreAndURL()
    try await OfflineStore(pool: store.pool, logger: Logger(label: "capstan.drift.test")).migrate()
    return (store.pool, url)
}

/// Generated trips: a reference week and a current day, with a known shift in `fare`, a new
/// city in the current day, missing ratings, a constant column, and a superseded row.
struct TripData {
    static let now = Date(timeIntervalSince1970: 1_796_644_800)  // 2026-12-07T12:00:00Z
    static let numeric = ["fare", "distance", "passengers", "rating", "flag"]
    static let categorical = ["city"]

    struct Row {
        var entity: String
        var micros: Int64
        var numbers: [Double?]
        var city: String?
    }

    var reference: [Row] = []
    var current: [Row] = []

    init(seed: UInt64, referenceRows: Int = 2000, currentRows: Int = 1500) {
        var random = SplitMix64(seed: seed)
        func normal(_ mean: Double, _ sd: Double) -> Double {
            let u = max(random.nextDouble(), 1e-300), v = random.nextDouble()
            return mean + sd * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let end = Int64(Self.now.timeIntervalSince1970 * 1_000_000)
        let day: Int64 = 86_400_000_000
        let cities = ["berlin", "lisbon", "oslo", "rome"]
        func row(_ i: Int, start: Int64, length: Int64, shifted: Bool) -> Row {
            let micros = start + Int64(random.nextDouble() * Double(length - 1))
            let fare = normal(shifted ? 26 : 20, 5)
            let distance = normal(3, 1)
            let passengers = Double(1 + Int(random.next() % 4))
            let rating: Double? = random.nextDouble() < (shifted ? 0.12 : 0.02) ? nil : (normal(4.2, 0.4) * 10).rounded() / 10
            var city = cities[Int(random.next() % 4)]
            if shifted, random.nextDouble() < 0.08 { city = "<madrid & co>" }
            return Row(entity: "t\(i)", micros: micros, numbers: [fare, distance, passengers, rating, 1], city: city)
        }
        reference = (0..<referenceRows).map { row($0, start: end - 8 * day, length: 7 * day, shifted: false) }
        current = (0..<currentRows).map { row(referenceRows + $0, start: end - day, length: day, shifted: true) }
    }

    /// Writes the definition and every row into the offline table, plus, for the first
    /// reference row, an older version of the same event with an absurd fare that must not count.
    func insert(into pool: PostgresPool) async throws {
        try await pool.withConnection { connection in
            _ = try await connection.query(
                """
                INSERT INTO capstan_feature_definitions (view, version, hash, spec, numeric_features, string_features)
                VALUES ('trips', 1, 'test', \(try await connection.literal(try Self.specJSON()))::jsonb, '{fare,distance,passengers,rating,flag}', '{city}')
                """)
            func literal(_ row: Row, createdOffset: Int64, fare: Double? = nil) -> String {
                var numbers = row.numbers
                if let fare { numbers[0] = fare }
                let num = numbers.map { $0.map { String($0) } ?? "NULL" }.joined(separator: ",")
                let city = row.city.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"
                return "('trips', '\(row.entity)', to_timestamp(\(Double(row.micros) / 1_000_000)), to_timestamp(\(Double(row.micros + createdOffset) / 1_000_000)), 1, 1, 0, 0, ARRAY[\(num)]::float8[], ARRAY[\(city)]::text[])"
            }
            var values = (reference + current).map { literal($0, createdOffset: 1_000_000) }
            values.append(literal(reference[0], createdOffset: 0, fare: 1_000_000))
            for start in stride(from: 0, to: values.count, by: 500) {
                _ = try await connection.query(
                    """
                    INSERT INTO capstan_feature_rows (view, entity, event_ts, created_ts, definition_version, source_id, source_partition, source_offset, num, txt)
                    VALUES \(values[start..<min(start + 500, values.count)].joined(separator: ",\n"))
                    """)
            }
        }
    }

    /// A FeatureView spec with these features (what `capstan drift run -f` checks a policy against).
    static func specJSON() throws -> String {
        let spec = FeatureViewSpec(
            entity: "trip_id", source: FeatureSource(uploads: true), eventTime: EventTimeSpec(field: "timestamp"),
            schema: [EventField(name: "trip_id", type: .string, required: true), EventField(name: "timestamp", type: .timestamp, required: true)],
            features: (numeric + categorical).map { FeatureSpec(name: $0, expr: $0 == "city" ? "'x'" : "1") })
        return String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
    }

    /// The rows as CSV (header, empty field = missing), as Evidently reads them.
    static func csv(_ rows: [Row]) -> String {
        var text = (numeric + categorical).joined(separator: ",") + "\n"
        for row in rows {
            let city = row.city.map { $0.contains(",") ? "\"\($0)\"" : $0 } ?? ""
            text += row.numbers.map { $0.map { String($0) } ?? "" }.joined(separator: ",") + "," + city + "\n"
        }
        return text
    }
}

@Suite("Drift runs on the offline store", .timeLimit(.minutes(5)))
struct DriftRunnerTests {
    static func policy(reference: DriftReference, chunkPeriod: String? = nil, quality: DataQualitySpec? = nil) throws -> DriftPolicyDocument {
        var spec = DriftPolicySpec(
            target: DriftTarget(featureView: "trips"), reference: reference,
            current: DriftCurrent(window: try DurationString(parsing: "1d"), chunkPeriod: try chunkPeriod.map { try DurationString(parsing: $0) }))
        spec.dataQuality = quality
        return DriftPolicyDocument(
            name: "trips-drift", namespace: "default", generation: 3, views: ["trips"],
            features: (TripData.numeric + TripData.categorical).map { .init(name: $0, method: .auto, threshold: nil) }, spec: spec)
    }

    /// Evidently's decisions on the same rows.
    static func evidently(_ data: TripData, reference: [TripData.Row]) async throws -> [String: Any] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-drift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try TripData.csv(reference).write(to: directory.appendingPathComponent("reference.csv"), atomically: true, encoding: .utf8)
        try TripData.csv(data.current).write(to: directory.appendingPathComponent("current.csv"), atomically: true, encoding: .utf8)
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let run = try await ChildProcess.capture(
            name: "drift-evidently", executable: "/usr/bin/env",
            arguments: [
                LocalTools.evidentlyPython(repository: tests.deletingLastPathComponent()),
                tests.appendingPathComponent("Python/drift_evidently.py").path,
                directory.appendingPathComponent("reference.csv").path, directory.appendingPathComponent("current.csv").path,
                TripData.numeric.joined(separator: ","), TripData.categorical.joined(separator: ","),
            ], separateErrors: true)
        guard run.termination == .exited(0), let object = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any] else {
            throw CapstanError(.server, "drift_evidently.py failed (\(run.termination)); run scripts/setup.sh for .venv/evidently: \(run.errorOutput)")
        }
        return object
    }

    /// Evidently's stattest names for Capstan's methods.
    static let evidentlyNames: [CapstanDrift.DriftMethod: String] = [
        .ks: "K-S p_value", .chisquare: "chi-square p_value", .ztest: "Z-test p_value", .wasserstein: "Wasserstein distance (normed)",
        .jensenshannon: "Jensen-Shannon distance",
    ]

    static func compare(_ result: DriftRunResult, with evidently: [String: Any]) throws {
        let columns = try #require(evidently["columns"] as? [String: [String: Any]])
        for feature in result.features {
            let score = feature.score
            guard let theirs = columns[score.feature] else {
                // Evidently leaves out columns it cannot compute; Capstan reports them as not computed.
                #expect(score.decision == .notComputed, "\(score.feature): Evidently dropped it, Capstan computed \(score)")
                continue
            }
            #expect(score.method.flatMap { evidentlyNames[$0] } == theirs["method"] as? String, "\(score.feature): method")
            let theirScore = try #require(Double(theirs["score"] as? String ?? ""))
            let ours = try #require(score.score)
            #expect(abs(ours - theirScore) <= 1e-9 * max(1, abs(theirScore)), "\(score.feature): \(ours) vs Evidently \(theirScore)")
            #expect((score.decision == .drifted) == (theirs["drifted"] as? Bool), "\(score.feature): decision")
        }
        #expect(result.dataset.drifted == evidently["dataset_drift"] as? Bool)
    }

    @Test("a large reference (Wasserstein, Jensen-Shannon) decides as Evidently does; the superseded row does not count")
    func largeReference() async throws {
        let (pool, _) = try await freshOfflineStore()
        let data = TripData(seed: 7)
        try await data.insert(into: pool)
        let policy = try Self.policy(
            reference: DriftReference(rolling: try DurationString(parsing: "7d")), chunkPeriod: "6h",
            quality: {
                var q = DataQualitySpec()
                q.maxMissingShare = 0.05
                q.maxNewCategoryShare = 0.02
                q.ranges = [FeatureRange(name: "passengers", min: 1, max: 4)]
                return q
            }())
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now)
        #expect(result.reference.rows == data.reference.count)
        #expect(result.current.rows == data.current.count)
        try Self.compare(result, with: try await Self.evidently(data, reference: data.reference))
        let decisions = Dictionary(uniqueKeysWithValues: result.features.map { ($0.feature, $0.decision) })
        #expect(decisions["fare"] == .drifted)
        #expect(decisions["distance"] == .stable)
        #expect(decisions["flag"] == .stable)
        // Chunks: four of six hours, together the whole current window; fare drifts in each.
        #expect(result.chunks.count == 4)
        #expect(result.chunks.reduce(0) { $0 + $1.window.rows } == data.current.count)
        for chunk in result.chunks {
            #expect(chunk.scores.first { $0.feature == "fare" }?.decision == .drifted)
        }
        // Quality: ratings go missing, a new city appears, passengers stay in range.
        func finding(_ check: QualityFinding.Check, _ feature: String?) -> QualityFinding? {
            result.quality.first { $0.check == check && $0.feature == feature }
        }
        #expect(finding(.missingShare, "rating")?.violated == true)
        #expect(finding(.missingShare, "fare")?.violated == false)
        let newCity = try #require(finding(.newCategoryShare, "city"))
        #expect(newCity.violated && newCity.message.contains("<madrid & co>"))
        #expect(finding(.outOfRangeShare, "passengers")?.violated == false)
        #expect(finding(.volumeChange, nil).map { abs($0.value - (1500.0 / (2000.0 / 7)) + 1) < 1e-9 } == true)
        // The report's distributions: fare has histogram edges, city its categories.
        #expect(result.features.first { $0.feature == "fare" }?.distribution?.edges != nil)
        #expect(result.features.first { $0.feature == "city" }?.distribution?.categories?.contains("<madrid & co>") == true)
    }

    @Test("a small reference (KS, chi-square, Z-test) decides as Evidently does")
    func smallReference() async throws {
        let (pool, _) = try await freshOfflineStore()
        let data = TripData(seed: 11)
        try await data.insert(into: pool)
        let day: TimeInterval = 86_400
        let from = TripData.now.addingTimeInterval(-4.5 * day), to = TripData.now.addingTimeInterval(-2 * day)
        let policy = try Self.policy(reference: DriftReference(from: KubeTimeText.format(from), to: KubeTimeText.format(to)))
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now)
        let fromMicros = Int64(from.timeIntervalSince1970 * 1_000_000), toMicros = Int64(to.timeIntervalSince1970 * 1_000_000)
        let reference = data.reference.filter { $0.micros >= fromMicros && $0.micros < toMicros }
        #expect(result.reference.rows == reference.count)
        #expect(reference.count <= 1000)
        try Self.compare(result, with: try await Self.evidently(data, reference: reference))
        #expect(result.features.first { $0.feature == "fare" }?.score.method == .ks)
    }

    @Test("an empty current window is not computed, feature by feature, and the dataset does not drift")
    func emptyCurrent() async throws {
        let (pool, _) = try await freshOfflineStore()
        try await TripData(seed: 3, currentRows: 0).insert(into: pool)
        let policy = try Self.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")))
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now)
        #expect(result.current.rows == 0)
        #expect(result.features.allSatisfy { $0.decision == .notComputed && $0.score.reason?.contains("current") == true })
        #expect(!result.dataset.drifted && result.dataset.notComputedFeatures == result.features.count)
    }

    @Test("an unknown view or feature is an error that names it")
    func unknownFeature() async throws {
        let (pool, _) = try await freshOfflineStore()
        try await TripData(seed: 5, referenceRows: 10, currentRows: 10).insert(into: pool)
        var policy = try Self.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")))
        policy.features.append(.init(name: "tip", method: .auto, threshold: nil))
        await #expect { try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now) } throws: {
            "\($0)".contains("no feature 'tip'")
        }
        policy.views = ["rides"]
        policy.spec.target.featureView = "rides"
        await #expect { try await DriftRunner(source: DriftWindowReader(pool: pool)).run(policy, now: TripData.now) } throws: {
            "\($0)".contains("'rides' is not registered")
        }
    }
}

/// RFC 3339 in the tests, without importing the Kubernetes client.
enum KubeTimeText {
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}


