import CapstanDrift
import CapstanDriftMonitor
import Foundation

/// Drift runs for the report tests: a taxi-trips policy watching 5 features over one day cut
/// into 12 two-hour chunks, of which `fare_amount` (Wasserstein) and `trip_distance` (KS)
/// drift, `payment_type` and `pickup_zone` (42 categories) stay stable and `driver_rating` is
/// not computed (no current values); with segments, data-quality findings, performance and
/// eight earlier runs. Every number is fixed, so the reports are the same on every run.
enum ReportFixtures {
    static let notComputedReason = "the current window has no values (all 7,934 rows missing)"
    static let features = ["fare_amount", "trip_distance", "payment_type", "pickup_zone", "driver_rating"]
    static let drifted = ["fare_amount", "trip_distance"]
    /// Per feature, the chunks in which it drifted.
    static let driftedChunks = ["fare_amount": [7, 8, 9, 10, 11], "trip_distance": [7, 8, 9, 10, 11]]

    static let policy = PolicyIdentity(namespace: "ml-prod", name: "trips-drift", generation: 7, views: ["trips"])

    static func trips(chunked: Bool = true) -> DriftRunResult {
        DriftRunResult(
            runID: "trips-drift-20261207T000012-9c4e", policy: policy,
            startedAt: "2026-12-07T00:00:12Z", finishedAt: "2026-12-07T00:00:19Z",
            reference: WindowSummary(from: "2026-11-23T00:00:00Z", to: "2026-11-30T00:00:00Z", rows: 48_210),
            current: WindowSummary(from: "2026-12-06T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 7_934),
            features: wholeWindow(), chunks: chunked ? chunks() : [], segments: segments(),
            dataset: DatasetSummary(totalFeatures: 5, driftedFeatures: 2, notComputedFeatures: 1, share: 0.5, driftShare: 0.5, drifted: true),
            quality: quality(), performance: performance())
    }

    /// Eight daily runs before `trips()`, oldest first (started 2026-11-29 … 2026-12-06).
    static func history() -> [DriftRunResult] {
        let dates = ["2026-11-28", "2026-11-29", "2026-11-30"] + (1...6).map { String(format: "2026-12-%02d", $0) }
        let drifted = [0, 1, 0, 0, 1, 1, 2, 1]
        return drifted.enumerated().map { day, count in
            let started = dates[day + 1]
            let share = Double(count) / 4
            return DriftRunResult(
                runID: "trips-drift-\(started.replacingOccurrences(of: "-", with: ""))T000011-\(String(format: "%04x", 4_096 + day * 977))",
                policy: policy, startedAt: "\(started)T00:00:11Z", finishedAt: "\(started)T00:00:18Z",
                reference: WindowSummary(from: "2026-11-23T00:00:00Z", to: "2026-11-30T00:00:00Z", rows: 48_210),
                current: WindowSummary(from: "\(dates[day])T00:00:00Z", to: "\(started)T00:00:00Z", rows: 7_800 + day * 31), features: [],
                dataset: DatasetSummary(
                    totalFeatures: 5, driftedFeatures: count, notComputedFeatures: 1, share: share, driftShare: 0.5, drifted: share >= 0.5))
        }
    }

    // MARK: - Whole window

    private static func wholeWindow() -> [FeatureResult] {
        let fareEdges = stride(from: 0.0, through: 80, by: 5).map { $0 }
        let distanceEdges = stride(from: 0.0, through: 20, by: 1.25).map { $0 }
        let zones = zoneNames()
        return [
            FeatureResult(
                score: FeatureScore(
                    feature: "fare_amount", kind: .numeric, method: .wasserstein, score: 0.2871, threshold: 0.1, decision: .drifted,
                    referenceCount: 48_021, currentCount: 7_902),
                distribution: FeatureDistribution(
                    edges: fareEdges, reference: bell(fareEdges, mean: 17, sd: 8.5), current: bell(fareEdges, mean: 22.5, sd: 10.5))),
            FeatureResult(
                score: FeatureScore(
                    feature: "trip_distance", kind: .numeric, method: .ks, score: 3.41e-9, pValue: 3.41e-9, statistic: 0.0412,
                    threshold: 0.05, decision: .drifted, referenceCount: 48_210, currentCount: 7_934),
                distribution: FeatureDistribution(
                    edges: distanceEdges, reference: bell(distanceEdges, mean: 3.6, sd: 2.9),
                    current: bell(distanceEdges, mean: 4.3, sd: 3.3))),
            FeatureResult(
                score: FeatureScore(
                    feature: "payment_type", kind: .categorical, method: .jensenshannon, score: 0.0418, threshold: 0.1, decision: .stable,
                    referenceCount: 48_210, currentCount: 7_934),
                distribution: FeatureDistribution(
                    categories: ["card", "cash", "dispute", "no_charge", "unknown"], reference: [0.712, 0.251, 0.011, 0.018, 0.008],
                    current: [0.741, 0.223, 0.012, 0.016, 0.008])),
            FeatureResult(
                score: FeatureScore(
                    feature: "pickup_zone", kind: .categorical, method: .chisquare, score: 0.2113, pValue: 0.2113, statistic: 44.93,
                    threshold: 0.05, decision: .stable, referenceCount: 48_210, currentCount: 7_934),
                distribution: FeatureDistribution(
                    categories: zones, reference: zipf(zones.count, wobble: 0), current: zipf(zones.count, wobble: 0.18))),
            FeatureResult(
                score: FeatureScore(
                    feature: "driver_rating", kind: .numeric, method: nil, score: nil, threshold: nil, decision: .notComputed,
                    reason: notComputedReason, referenceCount: 41_377, currentCount: 0),
                distribution: nil),
        ]
    }

    // MARK: - Chunks

    private static func chunks() -> [ChunkResult] {
        let fare = [0.052, 0.047, 0.061, 0.058, 0.072, 0.066, 0.094, 0.118, 0.162, 0.214, 0.251, 0.243]
        let distance = [0.61, 0.44, 0.72, 0.38, 0.29, 0.12, 0.081, 0.031, 0.0042, 2.1e-4, 8.7e-7, 3.3e-6]
        let payment = [0.031, 0.044, 0.038, 0.052, 0.036, 0.041, 0.047, 0.039, 0.055, 0.049, 0.043, 0.05]
        let zone = [0.48, 0.33, 0.71, 0.22, 0.15, 0.62, 0.41, 0.09, 0.27, 0.35, 0.19, 0.52]
        let rows = [412, 301, 244, 318, 596, 781, 822, 905, 968, 1_011, 874, 702]
        return (0..<12).map { index in
            let window = WindowSummary(from: hour(2 * index), to: hour(2 * index + 2), rows: rows[index])
            let count = rows[index]
            return ChunkResult(
                index: index, window: window,
                scores: [
                    FeatureScore(
                        feature: "fare_amount", kind: .numeric, method: .wasserstein, score: fare[index], threshold: 0.1,
                        decision: fare[index] >= 0.1 ? .drifted : .stable, referenceCount: 48_021, currentCount: count - 3),
                    FeatureScore(
                        feature: "trip_distance", kind: .numeric, method: .ks, score: distance[index], pValue: distance[index], threshold: 0.05,
                        decision: distance[index] <= 0.05 ? .drifted : .stable, referenceCount: 48_210, currentCount: count),
                    FeatureScore(
                        feature: "payment_type", kind: .categorical, method: .jensenshannon, score: payment[index], threshold: 0.1,
                        decision: .stable, referenceCount: 48_210, currentCount: count),
                    FeatureScore(
                        feature: "pickup_zone", kind: .categorical, method: .chisquare, score: zone[index], pValue: zone[index], threshold: 0.05,
                        decision: .stable, referenceCount: 48_210, currentCount: count),
                    FeatureScore(
                        feature: "driver_rating", kind: .numeric, method: nil, score: nil, threshold: nil, decision: .notComputed,
                        reason: "no current values", referenceCount: 41_377, currentCount: 0),
                ])
        }
    }

    private static func hour(_ hour: Int) -> String {
        hour >= 24 ? "2026-12-07T00:00:00Z" : String(format: "2026-12-06T%02d:00:00Z", hour)
    }

    // MARK: - Segments, quality, performance

    private static func segments() -> [SegmentResult] {
        let boroughs: [(String, Double, Double, Int)] = [
            ("Manhattan", 0.3412, 1.2e-7, 4_911), ("Brooklyn", 0.1374, 0.0021, 1_402), ("Queens", 0.0613, 0.093, 1_208),
            ("Bronx & Staten Island", 0.0822, 0.41, 413),
        ]
        return boroughs.map { name, fare, distance, rows in
            let scores = [
                FeatureScore(
                    feature: "fare_amount", kind: .numeric, method: .wasserstein, score: fare, threshold: 0.1,
                    decision: fare >= 0.1 ? .drifted : .stable, referenceCount: rows * 6, currentCount: rows),
                FeatureScore(
                    feature: "trip_distance", kind: .numeric, method: .ks, score: distance, pValue: distance, threshold: 0.05,
                    decision: distance <= 0.05 ? .drifted : .stable, referenceCount: rows * 6, currentCount: rows),
            ]
            let drifted = scores.filter { $0.decision == .drifted }.count
            return SegmentResult(field: "borough", value: name, scores: scores, datasetDrift: Double(drifted) / 2 >= 0.5)
        }
    }

    private static func quality() -> [QualityFinding] {
        [
            QualityFinding(
                check: .missingShare, feature: "fare_amount", value: 0.0041, limit: 0.05, violated: false,
                message: "fare_amount: 0.41 % missing, within the 5 % limit"),
            QualityFinding(
                check: .missingShare, feature: "driver_rating", value: 1, limit: 0.05, violated: true,
                message: "driver_rating: 100 % missing, above the 5 % limit"),
            QualityFinding(
                check: .outOfRangeShare, feature: "fare_amount", value: 0.0126, limit: 0.01, violated: true,
                message: "fare_amount: 1.3 % of values outside 0 … 250, above the 1 % limit"),
            QualityFinding(
                check: .newCategoryShare, feature: "pickup_zone", value: 0.0031, limit: 0.01, violated: false,
                message: "pickup_zone: 0.31 % of values in zones the reference never saw"),
            QualityFinding(
                check: .rejectedRows, feature: nil, value: 37, limit: nil, violated: false,
                message: "37 rows rejected (dead letters) during the current window"),
            QualityFinding(
                check: .stalenessSeconds, feature: nil, value: 420, limit: 3_600, violated: false,
                message: "newest row is 7 min old, within the 1 h limit"),
            QualityFinding(
                check: .volumeChange, feature: nil, value: -0.046, limit: 0.3, violated: false,
                message: "4.6 % fewer rows than the reference rate, within ±30 %"),
        ]
    }

    private static func performance() -> PerformanceResult {
        PerformanceResult(
            metrics: [
                .init(name: "auc", reference: 0.9121, current: 0.8735, higherIsBetter: true),
                .init(name: "accuracy", reference: 0.8614, current: 0.8422, higherIsBetter: true),
                .init(name: "log_loss", reference: 0.2813, current: 0.3371, higherIsBetter: false),
            ],
            labelledRows: 6_120, degraded: true, message: "auc fell by 0.0386, more than the 0.03 allowed")
    }

    // MARK: - Shapes

    /// Shares of a normal distribution over the bins on `edges` (normalized to sum to 1).
    static func bell(_ edges: [Double], mean: Double, sd: Double) -> [Double] {
        let cdf = edges.map { 0.5 * (1 + erf(($0 - mean) / (sd * 2.0.squareRoot()))) }
        let mass = zip(cdf, cdf.dropFirst()).map { $1 - $0 }
        let total = mass.reduce(0, +)
        return mass.map { $0 / total }
    }

    /// Zipf-like shares over `count` categories, perturbed by `wobble` (normalized).
    static func zipf(_ count: Int, wobble: Double) -> [Double] {
        let raw = (0..<count).map { (rank: Int) -> Double in
            let x = Double(rank)
            return (1 + wobble * sin(x * 1.7)) / pow(x + 1, 0.85)
        }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    private static func zoneNames() -> [String] {
        let names = [
            "Midtown Center", "Upper East Side South", "JFK Airport", "Midtown East", "Penn Station/Madison Sq West",
            "Upper East Side North", "Times Sq/Theatre District", "Murray Hill", "LaGuardia Airport", "Union Sq",
            "Lincoln Square East", "East Village", "Clinton East", "Gramercy", "Lenox Hill West", "Upper West Side South",
            "Midtown North", "West Village", "Greenwich Village North", "Yorkville West", "East Chelsea", "Flatiron",
            "Sutton Place/Turtle Bay North", "TriBeCa/Civic Center", "Lincoln Square West", "Little Italy/NoLiTa",
            "Manhattan Valley", "Battery Park City", "Kips Bay", "Financial District North", "Hudson Sq", "SoHo",
            "Lower East Side", "Yorkville East", "Chinatown", "Bloomingdale", "Central Harlem", "World Trade Center",
            "Seaport", "Williamsburg (North Side)", "Astoria", "Long Island City/Hunters Point",
        ]
        return names
    }
}
