import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanPostgres
import CapstanStore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The drift benchmark (issue 17): one DriftRunner run over all features of bench/drift_data.py's
/// windows (method auto, no chunks), from memory (`--source memory`, the windows loaded before
/// the clock starts) or from the offline store in an embedded PostgreSQL (`--source postgres`,
/// both windows read by DriftWindowReader inside the timed run; `--source load` writes the rows
/// there first, untimed). Each run compares every per-feature decision and the dataset decision
/// with Evidently's (bench/drift_evidently.py's JSON) and, optionally, with another Capstan run's.
@main
struct DriftBench: AsyncParsableCommand {
    enum Source: String, ExpressibleByArgument, CaseIterable { case memory, postgres, load, profile }

    @Option(help: "memory, postgres, load (write the rows into PostgreSQL, untimed), or profile (decisions from per-chunk profiles).")
    var source: Source = .memory
    @Option(help: "With --source profile: the length of a profiled chunk, in hours.")
    var profileChunkHours: Int = 6
    @Option(help: "The directory bench/drift_data.py wrote.")
    var data: String = ".capstan/drift-bench/data"
    @Option(help: "Working directory of the embedded PostgreSQL.")
    var directory: String = ".capstan/drift-bench"
    @Option(help: "Concurrent COPY streams per window when reading from PostgreSQL.")
    var parallelism: Int = 2
    @Option(help: "Evidently's decisions (bench/drift_evidently.py's output) to compare with.")
    var evidently: String?
    @Option(help: "Another Capstan run's decisions (--output of a previous run) to compare with.")
    var compare: String?
    @Option(help: "Where to write this run's decisions as JSON.")
    var output: String?
    @Flag(help: "Print every feature's method, scores and decisions.")
    var table = false

    static let evidentlyNames: [CapstanDrift.DriftMethod: String] = [
        .ks: "K-S p_value", .chisquare: "chi-square p_value", .ztest: "Z-test p_value", .wasserstein: "Wasserstein distance (normed)",
        .jensenshannon: "Jensen-Shannon distance", .psi: "PSI", .klDiv: "Kullback-Leibler divergence", .hellinger: "Hellinger distance (normed)",
    ]

    func run() async throws {
        var logger = Logger(label: "capstan.drift-bench")
        logger.logLevel = .warning
        let bench = try BenchData(directory: data)
        let policy = try Self.policy(features: bench.features)
        if source == .profile { return try await runProfiles(bench) }
        let result: DriftRunResult
        let seconds: Double
        var extra = ""
        switch source {
        case .memory:
            let start = ContinuousClock.now
            let windows = MemoryWindows(reference: try bench.window(.reference), current: try bench.window(.current))
            print(
                "loaded \(windows.reference.rows) + \(windows.current.rows) rows x \(bench.features.count) features from \(data) in "
                    + String(format: "%.1f s (not timed), %.0f MB of columns", (ContinuousClock.now - start).inSeconds,
                             Double(windows.reference.approximateBytes + windows.current.approximateBytes) / 1e6))
            let clock = ContinuousClock.now
            let cpu = Self.cpuSeconds()
            result = try await DriftRunner(source: windows).run(policy, now: BenchData.now)
            seconds = (ContinuousClock.now - clock).inSeconds
            extra = String(format: " cpu_seconds=%.3f", Self.cpuSeconds() - cpu)
        case .profile:
            return
        case .postgres, .load:
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let postgres = try await EmbeddedPostgres.start(directory: directory + "/postgres", logger: logger)
            defer { postgres.stop() }
            let pool = PostgresPool(config: try PostgresConfig(url: postgres.url), size: 2 * parallelism + 2, logger: logger)
            try await OfflineStore(pool: pool, logger: logger).migrate()
            if source == .load {
                if let loaded = try await OfflineLoad.ensureLoaded(bench, pool: pool, logger: logger) {
                    let size = try await pool.withConnection {
                        try await $0.query("SELECT pg_total_relation_size('capstan_feature_rows')::bigint")
                    }.first.flatMap { try $0.int64(at: 0) } ?? 0
                    print(String(format: "loaded %d + %d rows into capstan_feature_rows (%.0f MB) by binary COPY in %.1f s (not timed)",
                                 bench.manifest.rows, bench.manifest.rows, Double(size) / 1e6, loaded))
                } else {
                    print("capstan_feature_rows already holds this data set (\(bench.identity.prefix(40))...)")
                }
                await pool.close()
                return
            }
            guard try await pool.withConnection({ try await $0.query("SELECT to_regclass('bench_drift_loaded')::text") }).first?.string(at: 0) != nil,
                try await pool.withConnection({ try await $0.query("SELECT identity FROM bench_drift_loaded") }).first?.string(at: 0) == bench.identity
            else { throw BenchError("PostgreSQL in \(directory) does not hold this data set: run with --source load first") }
            let reader = DriftWindowReader(pool: pool, parallelism: parallelism)
            let clock = ContinuousClock.now
            result = try await DriftRunner(source: reader).run(policy, now: BenchData.now)
            seconds = (ContinuousClock.now - clock).inSeconds
            // Not part of the figure: the two reads alone, to split the time.
            let readClock = ContinuousClock.now
            async let reference = reader.read(
                view: OfflineLoad.view, features: bench.features, fromMicros: BenchData.referenceFromMillis * 1000, toMicros: BenchData.referenceToMillis * 1000)
            async let current = reader.read(
                view: OfflineLoad.view, features: bench.features, fromMicros: BenchData.currentFromMillis * 1000, toMicros: BenchData.nowMillis * 1000)
            let rows = try await reference.rows + current.rows
            extra = String(format: " read_seconds=%.3f read_rows=%d", (ContinuousClock.now - readClock).inSeconds, rows)
            await pool.close()
        }
        let rss = Self.peakRSSMegabytes()
        guard result.reference.rows == bench.manifest.rows, result.current.rows == bench.manifest.rows else {
            throw BenchError("the run saw \(result.reference.rows) + \(result.current.rows) rows, expected \(bench.manifest.rows) each")
        }
        let decisions = Decisions(result)
        if let output { try decisions.write(to: output) }

        var mismatches = 0
        var maxDifference = 0.0
        if let evidently {
            let theirs = try Decisions(evidentlyJSON: evidently)
            let (count, difference) = decisions.compare(with: theirs, name: "Evidently", table: table)
            mismatches += count
            maxDifference = difference
        }
        if let compare {
            let other = try Decisions(capstanJSON: compare)
            mismatches += decisions.compare(with: other, name: "Capstan (\(compare))", table: false).mismatches
        }
        let drifted = result.features.filter { $0.decision == .drifted }.map(\.feature)
        let injected = Set(bench.manifest.shifts.keys)
        let missed = injected.subtracting(drifted).sorted(), unexpected = Set(drifted).subtracting(injected).sorted()
        print("drifted: \(drifted.joined(separator: ", ")) (\(drifted.count) of \(result.features.count)); dataset drift: \(result.dataset.drifted)")
        print("injected shifts \(missed.isEmpty && unexpected.isEmpty ? "all found, nothing else drifted" : "missed: \(missed), drifted without a shift: \(unexpected)")")
        print(
            "capstan (\(source.rawValue)): DriftRunner over \(result.reference.rows) + \(result.current.rows) rows x \(result.features.count) features in "
                + String(format: "%.3f s, peak RSS %.0f MB", seconds, rss))
        let equal = evidently == nil && compare == nil ? "unknown" : (mismatches == 0 ? "true" : "false")
        print(
            "CAPSTAN source=\(source.rawValue) " + String(format: "seconds=%.3f peak_rss_mb=%.0f", seconds, rss)
                + " decisions_equal=\(equal) mismatches=\(mismatches) drifted=\(drifted.count) dataset_drift=\(result.dataset.drifted) "
                + String(format: "max_score_rel_diff=%.1e", maxDifference) + extra)
    }

    static func policy(features: [String]) throws -> DriftPolicyDocument {
        let spec = DriftPolicySpec(
            target: DriftTarget(featureView: OfflineLoad.view),
            reference: DriftReference(
                from: DriftRunner.rfc3339(micros: BenchData.referenceFromMillis * 1000), to: DriftRunner.rfc3339(micros: BenchData.referenceToMillis * 1000)),
            current: DriftCurrent(window: try DurationString(parsing: "1d")))
        return DriftPolicyDocument(
            name: "bench-drift", namespace: "default", views: [OfflineLoad.view],
            features: features.map { .init(name: $0, method: .auto, threshold: nil) }, spec: spec)
    }

    /// User and system CPU seconds of this process so far (all threads).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// getrusage's peak resident set size of this process (ru_maxrss is in KiB on Linux).
    static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) * 1024 / 1e6
    }
}

/// Per feature the method, score and decision of one run, and the dataset decision.
struct Decisions {
    struct Feature: Codable {
        var method: String?
        var score: Double?
        var drifted: Bool?  // nil: not computed
    }
    var features: [String: Feature]
    var order: [String]
    var datasetDrift: Bool

    init(_ result: DriftRunResult) {
        features = [:]
        order = result.features.map(\.feature)
        for feature in result.features {
            let score = feature.score
            features[feature.feature] = Feature(
                method: score.method.map { DriftBench.evidentlyNames[$0] ?? $0.rawValue }, score: score.score,
                drifted: score.decision == .notComputed ? nil : score.decision == .drifted)
        }
        datasetDrift = result.dataset.drifted
    }

    /// bench/drift_evidently.py's output.
    init(evidentlyJSON path: String) throws {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let columns = object["columns"] as? [String: [String: Any]], let dataset = object["dataset_drift"] as? Bool
        else { throw BenchError("\(path) is not bench/drift_evidently.py's output") }
        features = columns.mapValues {
            Feature(method: $0["method"] as? String, score: Double($0["score"] as? String ?? ""), drifted: $0["drifted"] as? Bool)
        }
        order = columns.keys.sorted()
        datasetDrift = dataset
    }

    struct File: Codable {
        var features: [String: Feature]
        var order: [String]
        var datasetDrift: Bool
    }

    init(capstanJSON path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError("cannot read \(path)") }
        let file = try JSONDecoder().decode(File.self, from: data)
        features = file.features
        order = file.order
        datasetDrift = file.datasetDrift
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(File(features: features, order: order, datasetDrift: datasetDrift)).write(to: URL(fileURLWithPath: path))
    }

    /// Prints each feature whose decision or method differs (with both scores), and the dataset
    /// decision if it differs; returns the count and the largest relative score difference.
    func compare(with other: Decisions, name: String, table: Bool) -> (mismatches: Int, maxDifference: Double) {
        var mismatches = 0
        var maxDifference = 0.0
        if table {
            print("feature  method                         capstan score           \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) capstan  \(name)")
        }
        func text(_ score: Double?) -> String { (score.map { String($0) } ?? "-").padding(toLength: 22, withPad: " ", startingAt: 0) }
        func decision(_ drifted: Bool?) -> String { drifted.map { $0 ? "drifted" : "stable" } ?? "not computed" }
        for feature in order {
            let ours = features[feature]!
            let theirs = other.features[feature]
            if let a = ours.score, let b = theirs?.score, a.isFinite, b.isFinite {
                maxDifference = max(maxDifference, abs(a - b) / max(abs(b), 1e-300))
            }
            let same = theirs != nil && ours.drifted == theirs!.drifted && ours.method == theirs!.method
            if table {
                print("\(feature.padding(toLength: 8, withPad: " ", startingAt: 0)) \((ours.method ?? "-").padding(toLength: 30, withPad: " ", startingAt: 0)) \(text(ours.score)) \(text(theirs?.score)) \(decision(ours.drifted).padding(toLength: 8, withPad: " ", startingAt: 0)) \(theirs.map { decision($0.drifted) } ?? "absent")\(same ? "" : "  MISMATCH")")
            }
            if !same {
                mismatches += 1
                if !table {
                    print("MISMATCH \(feature): Capstan \(ours.method ?? "-") \(ours.score.map { String($0) } ?? "-") \(decision(ours.drifted)); \(name) \(theirs.map { "\($0.method ?? "-") \($0.score.map { String($0) } ?? "-") \(decision($0.drifted))" } ?? "has no such column")")
                }
            }
        }
        for feature in other.features.keys where features[feature] == nil {
            mismatches += 1
            print("MISMATCH \(feature): \(name) has it, Capstan has not")
        }
        if datasetDrift != other.datasetDrift {
            mismatches += 1
            print("MISMATCH dataset drift: Capstan \(datasetDrift), \(name) \(other.datasetDrift)")
        }
        print("\(name): \(mismatches == 0 ? "every decision equal" : "\(mismatches) mismatches"), largest relative score difference \(String(format: "%.1e", maxDifference))")
        return (mismatches, maxDifference)
    }
}
