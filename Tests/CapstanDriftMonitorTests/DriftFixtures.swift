import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanPostgres
import Foundation
import Logging

/// Drift run results for the tests, with every part the tables and metrics have: p-value and
/// distance features, a feature that could not be computed, chunks, segments, quality findings
/// (violated, within limit, measured only) and performance.
enum DriftFixtures {
    static func score(
        _ feature: String, _ method: DriftMethod?, _ value: Double?, kind: ColumnKind = .numeric, pValue: Double? = nil,
        statistic: Double? = nil, threshold: Double?, lower: Double? = nil, upper: Double? = nil, _ decision: DriftDecision,
        reason: String? = nil, counts: (Int, Int) = (1000, 800)
    ) -> FeatureScore {
        FeatureScore(
            feature: feature, kind: kind, method: method, score: value, pValue: pValue, statistic: statistic, threshold: threshold,
            lower: lower, upper: upper, decision: decision, reason: reason, referenceCount: counts.0, currentCount: counts.1)
    }

    /// Four features (fare drifted by KS, distance stable by Wasserstein, city drifted by
    /// Jensen-Shannon, tip not computed), `chunks` chunks of the three computed ones, segments
    /// by `pickup_zone` (two values) and four quality findings.
    static func run(
        id: String = "trips-20261207T000000-ab12", namespace: String = "default", policy: String = "trips",
        startedAt: String = "2026-12-07T00:00:00.250Z", finishedAt: String = "2026-12-07T00:00:03.500Z", chunks: Int = 2,
        fareScore: Double = 0.001, performance: Bool = true
    ) -> DriftRunResult {
        let features = [
            FeatureResult(
                score: score("fare", .ks, fareScore, pValue: fareScore, statistic: 0.31, threshold: 0.05, .drifted),
                distribution: FeatureDistribution(edges: [0, 10, 20, 40], reference: [0.5, 0.3, 0.2], current: [0.2, 0.3, 0.5])),
            FeatureResult(
                score: score("distance", .wasserstein, 0.04, threshold: 0.1, .stable),
                distribution: FeatureDistribution(edges: [0, 1, 5], reference: [0.6, 0.4], current: [0.55, 0.45])),
            FeatureResult(
                score: score("city", .jensenshannon, 0.2, kind: .categorical, threshold: 0.1, .drifted),
                distribution: FeatureDistribution(categories: ["NYC", "SF"], reference: [0.7, 0.3], current: [0.4, 0.6])),
            FeatureResult(
                score: score("tip", nil, nil, threshold: nil, .notComputed, reason: "the current window has no values", counts: (1000, 0)),
                distribution: nil),
        ]
        /// 2026-12-06T00:00:00Z, where the current window starts; chunks split its 24 hours.
        let currentStart: Int64 = 1_796_515_200_000
        let chunkLength = 86_400_000 / Int64(max(chunks, 1))
        let chunkResults = (0..<chunks).map { index in
            let from = currentStart + Int64(index) * chunkLength
            return ChunkResult(
                index: index, window: WindowSummary(from: EpochMillis.format(from), to: EpochMillis.format(from + chunkLength), rows: 800 / chunks),
                scores: [
                    score("fare", .ks, 0.01 * Double(index + 1), pValue: 0.01 * Double(index + 1), statistic: 0.2, threshold: 0.05, .drifted,
                          counts: (1000, 400)),
                    score("distance", .wasserstein, 0.05, threshold: 0.1, lower: 0.01, upper: 0.09, .stable, counts: (1000, 400)),
                    score("city", .jensenshannon, 0.15, kind: .categorical, threshold: 0.1, .drifted, counts: (1000, 400)),
                ])
        }
        let segments = ["manhattan", "queens"].map { zone in
            SegmentResult(
                field: "pickup_zone", value: zone,
                scores: [
                    score("fare", .ks, 0.2, pValue: 0.2, statistic: 0.05, threshold: 0.05, .stable, counts: (500, 400)),
                    score("distance", .wasserstein, 0.12, threshold: 0.1, .drifted, counts: (500, 400)),
                    score("city", .jensenshannon, 0.01, kind: .categorical, threshold: 0.1, .stable, counts: (500, 400)),
                ],
                datasetDrift: false)
        }
        return DriftRunResult(
            runID: id, policy: PolicyIdentity(namespace: namespace, name: policy, generation: 3, views: ["trips"]),
            startedAt: startedAt, finishedAt: finishedAt,
            reference: WindowSummary(from: "2026-11-29T00:00:00Z", to: "2026-12-06T00:00:00Z", rows: 7000),
            current: WindowSummary(from: "2026-12-06T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 800),
            features: features, chunks: chunkResults, segments: segments,
            dataset: DatasetSummary(totalFeatures: 4, driftedFeatures: 2, notComputedFeatures: 1, share: 2.0 / 3, driftShare: 0.5, drifted: true),
            quality: [
                QualityFinding(check: .missingShare, feature: "fare", value: 0.12, limit: 0.05, violated: true,
                               message: "fare: 12 % missing, above the 5 % limit"),
                QualityFinding(check: .outOfRangeShare, feature: "distance", value: 0, limit: 0.01, violated: false,
                               message: "distance: no values out of range"),
                QualityFinding(check: .stalenessSeconds, feature: nil, value: 120, limit: nil, violated: false,
                               message: "newest row 120 s old"),
                QualityFinding(check: .volumeChange, feature: nil, value: -0.05, limit: 0.5, violated: false,
                               message: "5 % fewer rows than the reference's rate"),
            ],
            performance: performance
                ? PerformanceResult(
                    metrics: [PerformanceResult.Metric(name: "auc", reference: 0.91, current: 0.84, higherIsBetter: true)],
                    labelledRows: 500, degraded: true, message: "auc fell from 0.91 to 0.84, more than the 0.05 allowed")
                : nil)
    }
}

/// One PostgreSQL per test process; each test gets its own database, migrated.
actor DriftTestDatabase {
    static let shared = DriftTestDatabase()
    private var starting: Task<EmbeddedPostgres, any Error>?
    private var databases = 0
    let logger: Logger = {
        var logger = Logger(label: "capstan.drift.test")
        logger.logLevel = .warning
        return logger
    }()

    private func server() async throws -> EmbeddedPostgres {
        if let starting { return try await starting.value }
        let logger = logger
        let task = Task {
            let directory = NSTemporaryDirectory() + "capstan-drift-tests-\(getpid())"
            ChildProcess.removeAtExit(directory)
            return try await EmbeddedPostgres.start(directory: directory, logger: logger)
        }
        starting = task
        return try await task.value
    }

    /// A store on a fresh, migrated database (close its pool when done).
    func freshStore() async throws -> DriftResultStore { try await freshStoreAndURL().store }

    /// The same, with the database's URL (for programs the test starts).
    func freshStoreAndURL() async throws -> (store: DriftResultStore, url: String) {
        let postgres = try await server()
        databases += 1
        let name = "drift\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: postgres.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        let url = String(postgres.url[..<postgres.url.lastIndex(of: "/")!]) + "/" + name
        let store = DriftResultStore(pool: PostgresPool(config: try PostgresConfig(url: url), size: 2, logger: logger), logger: logger)
        try await store.migrate()
        return (store, url)
    }
}
