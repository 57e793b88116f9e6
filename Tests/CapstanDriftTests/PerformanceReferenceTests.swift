import CapstanDrift
import CapstanEmbedded
import Foundation
import Testing

/// ClassificationMetrics and RegressionMetrics against scikit-learn 1.9 on randomized cases
/// written by Tests/Python/performance_reference.py: binary (with tied and clipped
/// probabilities), multiclass (macro averages, one-vs-rest AUC) and regression (zero labels for
/// MAPE), every metric within 1e-9 relative (or 1e-12 absolute), undefined ones nil on both sides.
@Suite("Performance metrics equal scikit-learn's", .timeLimit(.minutes(5)))
struct PerformanceReferenceTests {
    static let seed = ProcessInfo.processInfo.environment["CAPSTAN_DRIFT_SEED"].flatMap(Int.init) ?? 20_261_207

    @Test("every classification and regression metric equals sklearn's on randomized data")
    func metricsEqualScikitLearn() async throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let script = tests.appendingPathComponent("Python/performance_reference.py")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-performance-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try await ChildProcess.capture(
            name: "performance-reference", executable: "/usr/bin/env",
            arguments: [LocalTools.evidentlyPython(repository: tests.deletingLastPathComponent()), script.path, String(Self.seed), output.path])
        try #require(run.termination == .exited(0), "performance_reference.py failed (run scripts/setup.sh for scikit-learn): \(run.output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        let cases = try #require(document["cases"] as? [[String: Any]])
        var comparison = ReferenceComparison()
        var compared = 0
        for (index, item) in cases.enumerated() {
            let task = item["task"] as? String ?? ""
            let labels = (item["labels"] as? [Any] ?? []).compactMap(ReferenceComparison.number)
            let outputs = (item["outputs"] as? [[Any]] ?? []).map { $0.compactMap(ReferenceComparison.number) }
            let expected = item["expected"] as? [String: Any] ?? [:]
            let ours = task == "regression"
                ? RegressionMetrics.all(labels: labels, predictions: outputs.map { $0[0] })
                : ClassificationMetrics.all(labels: labels, outputs: outputs)
            let label = "case \(index) (\(task), \(labels.count) rows)"
            for (name, value) in ours {
                let reference = ReferenceComparison.number(expected[name])
                switch (value, reference) {
                case (let a?, let b?):
                    comparison.compare(label, name, a, b)
                    compared += 1
                case (nil, nil): break
                default: comparison.fail("\(label) \(name): \(String(describing: value)) vs sklearn \(String(describing: reference))")
                }
            }
        }
        #expect(compared > 400)
        #expect(comparison.failures.isEmpty, "\(comparison.failures.prefix(10).joined(separator: "\n"))")
    }

    @Test("ties between scores count as half in the AUC; one class only has no AUC")
    func aucTiesAndOneClass() {
        #expect(ClassificationMetrics.binaryAUC(positive: [true, false], scores: [0.5, 0.5]) == 0.5)
        #expect(ClassificationMetrics.binaryAUC(positive: [false, true, true], scores: [0.1, 0.1, 0.9]) == 0.75)
        #expect(ClassificationMetrics.binaryAUC(positive: [true, true], scores: [0.1, 0.9]) == nil)
        #expect(ClassificationMetrics.accuracy(labels: [], predicted: []) == nil)
    }
}
