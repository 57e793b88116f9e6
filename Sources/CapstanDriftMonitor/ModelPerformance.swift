import CapstanAPI
import CapstanDrift
import Foundation

/// Realized performance of a model: its metrics on the labelled predictions of the current
/// window against the same metrics on the reference window's, and the decision.
///
/// Only predictions older than `labelDelay` at run time were read (their labels had time to
/// arrive); of those, rows with a label and a finite output are scored. Classification:
/// ``ClassificationMetrics`` (auc, accuracy, precision, recall, f1, log_loss); regression:
/// ``RegressionMetrics`` on the first output value (rmse, mae, mape).
///
/// Degraded when, for any metric computed on both sides, a higher-is-better metric fell by more
/// than `maxDrop` (absolute: 0.05 means five points of accuracy), or an error metric rose by more
/// than `maxDrop` relative to the reference (0.05 means 5 % more RMSE; from a reference of 0, any
/// rise). Not judged (never degraded) without labelled rows on either side.
enum ModelPerformance {
    static let defaultMaxDrop = 0.05

    static func evaluate(
        _ spec: PerformanceSpec, join: PredictionWindowReader.LabelJoin, reference: DriftWindow, current: DriftWindow, predictionColumns: [String]
    ) -> PerformanceResult {
        let maxDrop = spec.maxDrop ?? defaultMaxDrop
        let referenceRows = labelled(reference, predictionColumns)
        let currentRows = labelled(current, predictionColumns)
        let classification = spec.task == .classification
        func metrics(_ rows: (labels: [Double], outputs: [[Double]])) -> [(name: String, value: Double?)] {
            classification
                ? ClassificationMetrics.all(labels: rows.labels, outputs: rows.outputs)
                : RegressionMetrics.all(labels: rows.labels, predictions: rows.outputs.map { $0[0] })
        }
        let ours = metrics(currentRows), theirs = metrics(referenceRows)
        let result = zip(theirs, ours).map { reference, current in
            PerformanceResult.Metric(
                name: current.name, reference: reference.value, current: current.value, higherIsBetter: higherIsBetter(current.name))
        }
        let delay = spec.labelDelay.map { " older than labelDelay \($0.text)" } ?? ""
        guard !currentRows.labels.isEmpty else {
            return PerformanceResult(
                metrics: result, labelledRows: 0, degraded: false,
                message: "no labelled prediction\(delay) in the current window yet (labels from \(join.table).\(join.column) joined by \(join.key.rawValue)); performance is judged once labels arrive")
        }
        guard !referenceRows.labels.isEmpty else {
            return PerformanceResult(
                metrics: result, labelledRows: currentRows.labels.count, degraded: false,
                message: "the reference window has no labelled prediction to compare with (\(summary(result, current: true))); label the reference period or move it")
        }
        var drops: [String] = []
        for metric in result {
            guard let a = metric.reference, let b = metric.current else { continue }
            if metric.higherIsBetter, a - b > maxDrop {
                drops.append("\(metric.name) fell from \(format(a)) to \(format(b)) (by \(format(a - b)), more than maxDrop \(format(maxDrop)))")
            } else if !metric.higherIsBetter, b > a, a == 0 || (b - a) / a > maxDrop {
                let rise = a == 0 ? "from 0" : "by \(format((b - a) / a * 100)) %"
                drops.append("\(metric.name) rose from \(format(a)) to \(format(b)) (\(rise), more than maxDrop \(format(maxDrop * 100)) %)")
            }
        }
        let rows = "\(currentRows.labels.count) labelled predictions (reference \(referenceRows.labels.count))"
        guard drops.isEmpty else {
            return PerformanceResult(
                metrics: result, labelledRows: currentRows.labels.count, degraded: true,
                message: drops.joined(separator: "; ") + " on \(rows); look at the drifted inputs and predictions, and retrain on recent labelled data")
        }
        return PerformanceResult(
            metrics: result, labelledRows: currentRows.labels.count, degraded: false,
            message: "\(summary(result, current: true)) within maxDrop \(format(maxDrop)) of the reference on \(rows)")
    }

    static func higherIsBetter(_ metric: String) -> Bool { ["auc", "accuracy", "precision", "recall", "f1"].contains(metric) }

    /// The rows with a label and finite outputs: labels and output vectors.
    static func labelled(_ window: DriftWindow, _ predictionColumns: [String]) -> (labels: [Double], outputs: [[Double]]) {
        guard case .numbers(let labels)? = window.columns[PredictionWindowReader.labelColumn] else { return ([], []) }
        let outputs = predictionColumns.map { name -> [Double] in
            if case .numbers(let values)? = window.columns[name] { return values }
            return [Double](repeating: .nan, count: labels.count)
        }
        var keptLabels: [Double] = [], keptOutputs: [[Double]] = []
        for i in labels.indices where labels[i].isFinite {
            let vector = outputs.map { $0[i] }
            guard vector.allSatisfy(\.isFinite) else { continue }
            keptLabels.append(labels[i])
            keptOutputs.append(vector)
        }
        return (keptLabels, keptOutputs)
    }

    static func summary(_ metrics: [PerformanceResult.Metric], current: Bool) -> String {
        metrics.compactMap { metric in (current ? metric.current : metric.reference).map { "\(metric.name) \(format($0))" } }.joined(separator: ", ")
    }

    static func format(_ value: Double) -> String { String(format: "%.4g", value) }
}

extension PerformanceResult {
    /// Whether the run could compare at all: labelled rows in the current window and at least one
    /// metric computed on both sides. A result that is not judged is never degraded.
    public var judged: Bool { labelledRows > 0 && metrics.contains { $0.reference != nil && $0.current != nil } }
}
