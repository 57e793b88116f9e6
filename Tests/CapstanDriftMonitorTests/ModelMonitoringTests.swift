import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanPostgres
import Foundation
import Testing

/// Predictions of one model written straight into `capstan_predictions` (what the prediction-log
/// consumer writes), with their labels in a labels table.
struct PredictionData {
    static let now = TripData.now
    static let day: Int64 = 86_400_000_000
    static let hour: Int64 = 3_600_000_000

    struct Row {
        var requestID: String
        var entity: String
        var micros: Int64
        var features: [Double]
        var output: [Double]
        /// nil: no label written (yet).
        var label: Double?
    }

    var reference: [Row] = []
    var current: [Row] = []
    var all: [Row] { reference + current }

    static var end: Int64 { Int64(now.timeIntervalSince1970 * 1_000_000) }

    /// A fraud classifier on (tx.amount, tx.age, user.score): P(fraud) = σ(2·score + (amount − 100)/20),
    /// the truth is score + noise > 0. In the current day `amount` shifts by two standard
    /// deviations, which pushes the predictions up and the accuracy down; `age` and `score` keep
    /// their distributions. Predictions of the last two hours are mostly unlabelled; a few carry a
    /// label already (which `labelDelay: 2h` must still leave out).
    static func fraud(seed: UInt64) -> PredictionData {
        var random = SplitMix64(seed: seed)
        func normal(_ mean: Double, _ sd: Double) -> Double {
            let u = max(random.nextDouble(), 1e-300), v = random.nextDouble()
            return mean + sd * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        func row(_ i: Int, start: Int64, length: Int64, shifted: Bool) -> Row {
            let micros = (start + Int64(random.nextDouble() * Double(length - 1))) / 1000 * 1000
            let amount = normal(shifted ? 140 : 100, 20), age = normal(40, 10), score = normal(0, 1)
            let truth: Double = score + normal(0, 0.5) > 0 ? 1 : 0
            let p = 1 / (1 + exp(-(2 * score + (amount - 100) / 20)))
            var label: Double? = truth
            if micros >= end - 2 * hour, random.nextDouble() < 0.7 { label = nil }
            return Row(requestID: "r\(i)", entity: "u\(i % 400)", micros: micros, features: [amount, age, score], output: [p], label: label)
        }
        var data = PredictionData()
        data.reference = (0..<2000).map { row($0, start: end - 8 * day, length: 7 * day, shifted: false) }
        data.current = (0..<1500).map { row(2000 + $0, start: end - day, length: day, shifted: true) }
        return data
    }

    /// An arrival-time regressor on trip.distance: it predicts 3·distance, and in the current day
    /// trips take 4 minutes longer than it says (labels by entity and time, an as-of join).
    static func eta(seed: UInt64) -> PredictionData {
        var random = SplitMix64(seed: seed)
        func normal(_ mean: Double, _ sd: Double) -> Double {
            let u = max(random.nextDouble(), 1e-300), v = random.nextDouble()
            return mean + sd * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        func row(_ i: Int, start: Int64, length: Int64, late: Bool) -> Row {
            let micros = (start + Int64(random.nextDouble() * Double(length - 1))) / 1000 * 1000
            let distance = abs(normal(5, 2)) + 0.5
            let actual = 3 * distance + (late ? 4 : 0) + normal(0, 1)
            return Row(requestID: "q\(i)", entity: "d\(i % 150)", micros: micros, features: [distance], output: [3 * distance], label: actual)
        }
        var data = PredictionData()
        data.reference = (0..<1200).map { row($0, start: end - 8 * day, length: 7 * day, late: false) }
        data.current = (0..<900).map { row(1200 + $0, start: end - day, length: day, late: true) }
        return data
    }

    /// Writes the predictions of `model` and, into `labels` (created here), their labels: by
    /// request id (`request_id`, `label`) or by entity and time (`entity`, `ts`, `labelColumn`).
    func insert(into pool: PostgresPool, model: String, labels: String, byRequest: Bool, labelColumn: String = "label") async throws {
        try await pool.withConnection { c in
            _ = try await c.query(
                byRequest
                    ? "CREATE TABLE \(labels) (request_id text NOT NULL, \(labelColumn) integer NOT NULL)"
                    : "CREATE TABLE \(labels) (entity text NOT NULL, ts timestamptz NOT NULL, \(labelColumn) double precision NOT NULL)")
            func array(_ values: [Double]) -> String { "ARRAY[\(values.map { String($0) }.joined(separator: ","))]::float8[]" }
            let rows = all
            for start in stride(from: 0, to: rows.count, by: 500) {
                let part = rows[start..<min(start + 500, rows.count)]
                let predictions = part.enumerated().map { offset, row in
                    "('\(model)', 'v1', '\(row.requestID)', '\(row.entity)', '\(PostgresTimestamp.literal(micros: row.micros))'::timestamptz, \(array(row.features)), \(array(row.output)), '{}'::text[], 0, \(start + offset))"
                }
                _ = try await c.query(
                    """
                    INSERT INTO capstan_predictions (model, version, request_id, entity, ts, features, output, missing, source_partition, source_offset)
                    VALUES \(predictions.joined(separator: ",\n"))
                    """)
                let labelled = part.filter { $0.label != nil }
                guard !labelled.isEmpty else { continue }
                let values = labelled.map { row in
                    byRequest
                        ? "('\(row.requestID)', \(Int(row.label!)))"
                        : "('\(row.entity)', '\(PostgresTimestamp.literal(micros: row.micros))'::timestamptz, \(row.label!))"
                }
                _ = try await c.query("INSERT INTO \(labels) VALUES \(values.joined(separator: ",\n"))")
            }
        }
    }

    /// The rows a run at `now` with `labelDelay` scores: labelled, older than the delay.
    static func scored(_ rows: [Row], labelDelay: Int64) -> [Row] {
        rows.filter { $0.label != nil && $0.micros < end - labelDelay }
    }
}

@Suite("Model monitoring: drift of inputs, predictions and labels, and realized performance", .timeLimit(.minutes(5)))
struct ModelMonitoringTests {
    static func policy(
        model: DriftPolicyDocument.ModelInputs, deployment: String, performance: PerformanceSpec, views: [String]
    ) throws -> DriftPolicyDocument {
        var spec = DriftPolicySpec(
            target: DriftTarget(modelDeployment: deployment), reference: DriftReference(rolling: try DurationString(parsing: "7d")),
            current: DriftCurrent(window: try DurationString(parsing: "1d")))
        spec.performance = performance
        return DriftPolicyDocument(
            name: "\(deployment)-drift", namespace: "default", generation: 1, views: views,
            features: model.features.map { .init(name: $0, method: .auto, threshold: nil) }, spec: spec, model: model)
    }

    /// sklearn's metrics for each (task, rows) via Tests/Python/performance_reference.py --cases.
    static func sklearn(_ cases: [(task: String, rows: [PredictionData.Row])]) async throws -> [[String: Double]] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-performance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("cases.json"), output = directory.appendingPathComponent("expected.json")
        let document: [String: Any] = [
            "cases": cases.map { item in
                ["task": item.task, "labels": item.rows.map { "\($0.label!)" }, "outputs": item.rows.map { $0.output.map { "\($0)" } }]
            }
        ]
        try JSONSerialization.data(withJSONObject: document).write(to: input)
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let run = try await ChildProcess.capture(
            name: "performance-reference", executable: "/usr/bin/env",
            arguments: [
                LocalTools.evidentlyPython(repository: tests.deletingLastPathComponent()),
                tests.appendingPathComponent("Python/performance_reference.py").path, "--cases", input.path, output.path,
            ])
        guard run.termination == .exited(0),
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any],
            let scored = object["cases"] as? [[String: Any]]
        else {
            throw CapstanError(.server, "performance_reference.py failed (\(run.termination)); run scripts/setup.sh for scikit-learn: \(run.output)")
        }
        return scored.map { item in
            ((item["expected"] as? [String: Any]) ?? [:]).compactMapValues { ($0 as? String).flatMap(Double.init) }
        }
    }

    static func expectEqual(_ metrics: [PerformanceResult.Metric], reference: [String: Double], current: [String: Double]) {
        #expect(Set(metrics.map(\.name)) == Set(current.keys), "metrics: \(metrics.map(\.name)) vs sklearn \(current.keys.sorted())")
        for metric in metrics {
            for (ours, theirs, side) in [(metric.reference, reference[metric.name], "reference"), (metric.current, current[metric.name], "current")] {
                guard let ours, let theirs else {
                    Issue.record("\(metric.name) \(side): \(String(describing: ours)) vs sklearn \(String(describing: theirs))")
                    continue
                }
                #expect(abs(ours - theirs) <= 1e-9 * max(1, abs(theirs)), "\(metric.name) \(side): \(ours) vs sklearn \(theirs)")
            }
        }
    }

    @Test("a classifier whose predictions shift and accuracy drops: prediction drift, input drift on the shifted feature only, PerformanceDegraded with sklearn's metrics, labelDelay leaves recent rows out")
    func classifierDegrades() async throws {
        let (pool, _) = try await freshOfflineStore()
        let data = PredictionData.fraud(seed: 17)
        try await data.insert(into: pool, model: "fraud", labels: "fraud_labels", byRequest: true)
        let model = DriftPolicyDocument.ModelInputs(name: "fraud", features: ["tx.amount", "tx.age", "user.score"])
        var performance = PerformanceSpec(task: .classification, labelsTable: "fraud_labels")
        performance.labelDelay = try DurationString(parsing: "2h")
        let policy = try Self.policy(model: model, deployment: "fraud-model", performance: performance, views: ["tx", "user"])

        let result = try await DriftRunner(source: DriftWindowReader(pool: pool), predictions: PredictionWindowReader(pool: pool))
            .run(policy, now: PredictionData.now)
        let decisions = Dictionary(uniqueKeysWithValues: result.features.map { ($0.feature, $0.decision) })
        #expect(result.features.map(\.feature) == ["tx.amount", "tx.age", "user.score", "prediction", "label"])
        #expect(decisions["tx.amount"] == .drifted)
        #expect(decisions["tx.age"] == .stable)
        #expect(decisions["user.score"] == .stable)
        #expect(decisions["prediction"] == .drifted)
        #expect(decisions["label"] == .stable, "the truth keeps its distribution")
        #expect(result.reference.rows == 2000 && result.current.rows == 1500)
        #expect(result.policy.views == ["tx", "user"])

        let perf = try #require(result.performance)
        let scoredReference = PredictionData.scored(data.reference, labelDelay: 2 * PredictionData.hour)
        let scoredCurrent = PredictionData.scored(data.current, labelDelay: 2 * PredictionData.hour)
        let labelledCurrent = data.current.filter { $0.label != nil }.count
        #expect(labelledCurrent > scoredCurrent.count, "some recent rows carry a label, which labelDelay must leave out")
        #expect(perf.labelledRows == scoredCurrent.count)
        #expect(perf.degraded)
        #expect(perf.message.contains("accuracy fell from"), "\(perf.message)")
        let expected = try await Self.sklearn([("classification", scoredReference), ("classification", scoredCurrent)])
        Self.expectEqual(perf.metrics, reference: expected[0], current: expected[1])
        #expect(perf.metrics.map(\.name) == ["auc", "accuracy", "precision", "recall", "f1", "log_loss"])

        // Stored, read back per metric, exported as gauges.
        let store = DriftResultStore(pool: pool, logger: DriftTestDatabase.shared.logger)
        try await store.write(result)
        let stored = try #require(try await store.latestRuns().first)
        #expect(stored.performance == perf.metrics)
        #expect(stored.labelledRows == perf.labelledRows)
        #expect(stored.run.performanceDegraded == true)
        let text = DriftMetrics.render([stored])
        let accuracy = try #require(perf.metrics.first { $0.name == "accuracy" }?.current)
        #expect(text.contains(#"capstan_drift_performance_metric{namespace="default",policy="fraud-model-drift",metric="accuracy",window="current"} \#(accuracy)"#))
        #expect(text.contains(#"capstan_drift_performance_labelled_rows{namespace="default",policy="fraud-model-drift"} \#(perf.labelledRows)"#))
        #expect(DriftStatusWriter.summary(result).lastRun.performanceDegraded == true)
        #expect(DriftStatusWriter.summary(result).lastRun.performanceSummary == perf.message)
        #expect(DriftReport.html(result).contains("accuracy"))
    }

    @Test("signals narrow what is compared; without labelled rows performance is not judged")
    func signalsAndNoLabels() async throws {
        let (pool, _) = try await freshOfflineStore()
        var data = PredictionData.fraud(seed: 5)
        for i in data.current.indices { data.current[i].label = nil }
        try await data.insert(into: pool, model: "fraud", labels: "fraud_labels", byRequest: true)
        let model = DriftPolicyDocument.ModelInputs(name: "fraud", features: ["tx.amount", "tx.age", "user.score"])
        var policy = try Self.policy(
            model: model, deployment: "fraud-model", performance: PerformanceSpec(task: .classification, labelsTable: "fraud_labels"),
            views: ["tx", "user"])
        policy.spec.target.signals = [.predictions]
        let result = try await DriftRunner(source: DriftWindowReader(pool: pool), predictions: PredictionWindowReader(pool: pool))
            .run(policy, now: PredictionData.now)
        #expect(result.features.map(\.feature) == ["prediction"])
        let perf = try #require(result.performance)
        #expect(perf.labelledRows == 0)
        #expect(!perf.degraded)
        #expect(perf.message.contains("no labelled prediction"), "\(perf.message)")
        #expect(!perf.judged)
        #expect(DriftStatusWriter.summary(result).lastRun.performanceDegraded == nil, "the operator shows Unknown NoLabels")
    }

    @Test("a regressor whose errors grow: PerformanceDegraded with sklearn's RMSE, MAE and MAPE, labels joined by entity as of the prediction")
    func regressorDegrades() async throws {
        let (pool, _) = try await freshOfflineStore()
        let data = PredictionData.eta(seed: 23)
        try await data.insert(into: pool, model: "eta", labels: "public.eta_labels", byRequest: false, labelColumn: "actual")
        let model = DriftPolicyDocument.ModelInputs(name: "eta", features: ["trip.distance"])
        var performance = PerformanceSpec(task: .regression, labelsTable: "public.eta_labels")
        performance.labelColumn = "actual"
        performance.maxDrop = 0.1
        let policy = try Self.policy(model: model, deployment: "eta-model", performance: performance, views: ["trip"])

        let result = try await DriftRunner(source: DriftWindowReader(pool: pool), predictions: PredictionWindowReader(pool: pool))
            .run(policy, now: PredictionData.now)
        let decisions = Dictionary(uniqueKeysWithValues: result.features.map { ($0.feature, $0.decision) })
        #expect(decisions["trip.distance"] == .stable)
        #expect(decisions["prediction"] == .stable, "the model's outputs keep their distribution")
        #expect(decisions["label"] == .drifted, "the actual times moved")
        let perf = try #require(result.performance)
        #expect(perf.labelledRows == data.current.count)
        #expect(perf.degraded)
        #expect(perf.message.contains("rmse rose from"), "\(perf.message)")
        #expect(perf.metrics.map(\.name) == ["rmse", "mae", "mape"])
        let expected = try await Self.sklearn([("regression", data.reference), ("regression", data.current)])
        Self.expectEqual(perf.metrics, reference: expected[0], current: expected[1])
    }
}
