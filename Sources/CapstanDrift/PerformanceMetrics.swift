import Foundation

/// Classification metrics of a model's predictions against labels, each equal to
/// scikit-learn 1.9's function of the same name (checked to 1e-9 by
/// `Tests/Python/performance_reference.py`).
///
/// Inputs: `labels` are class indices (0/1 for a binary model, 0..<K for K classes; any other
/// value is a class of its own that no output column scores); `outputs` is one vector per row:
/// - one value: a binary classifier, the value is P(class 1); the predicted class is 1 when
///   P ≥ ``threshold`` (0.5), else 0;
/// - K values: P(class k) per class; the predicted class is the argmax (the first on ties, as
///   `numpy.argmax`), and precision, recall and F1 are macro averages (`average="macro"`: the
///   unweighted mean over the classes in labels ∪ predictions, as sklearn's `unique_labels`).
///
/// A metric that is undefined for the rows (no row, AUC with one class only) is nil.
public enum ClassificationMetrics {
    /// The probability at and above which a binary prediction is class 1.
    public static let threshold = 0.5

    /// Every metric, in the order reported: auc, accuracy, precision, recall, f1, log_loss.
    public static func all(labels: [Double], outputs: [[Double]]) -> [(name: String, value: Double?)] {
        let predicted = predictedClasses(outputs)
        let counts = precisionRecallF1(labels: labels, predicted: predicted, binary: isBinary(outputs))
        return [
            ("auc", rocAUC(labels: labels, outputs: outputs)),
            ("accuracy", accuracy(labels: labels, predicted: predicted)),
            ("precision", counts?.precision),
            ("recall", counts?.recall),
            ("f1", counts?.f1),
            ("log_loss", logLoss(labels: labels, outputs: outputs)),
        ]
    }

    static func isBinary(_ outputs: [[Double]]) -> Bool { outputs.first.map { $0.count == 1 } ?? true }

    /// The predicted class per row: `P ≥ 0.5` for one value, the argmax for several.
    public static func predictedClasses(_ outputs: [[Double]]) -> [Double] {
        outputs.map { output in
            if output.count == 1 { return output[0] >= threshold ? 1 : 0 }
            var best = 0
            for k in output.indices where output[k] > output[best] { best = k }
            return Double(best)
        }
    }

    /// `sklearn.metrics.accuracy_score`: the share of rows whose predicted class is the label.
    public static func accuracy(labels: [Double], predicted: [Double]) -> Double? {
        guard !labels.isEmpty else { return nil }
        var hits = 0
        for i in labels.indices where labels[i] == predicted[i] { hits += 1 }
        return Double(hits) / Double(labels.count)
    }

    /// `precision_score`, `recall_score`, `f1_score` with `zero_division=0`: binary
    /// (`pos_label=1`) or macro averages over labels ∪ predictions. Per class:
    /// precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2·tp / (2·tp + fp + fn), 0
    /// where the denominator is 0.
    public static func precisionRecallF1(labels: [Double], predicted: [Double], binary: Bool) -> (precision: Double, recall: Double, f1: Double)? {
        guard !labels.isEmpty else { return nil }
        func perClass(_ c: Double) -> (Double, Double, Double) {
            var tp = 0, fp = 0, fn = 0
            for i in labels.indices {
                let truth = labels[i] == c, guess = predicted[i] == c
                if truth && guess { tp += 1 } else if guess { fp += 1 } else if truth { fn += 1 }
            }
            let p = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
            let r = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
            let f = 2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn)
            return (p, r, f)
        }
        if binary { return perClass(1) }
        let classes = Set(labels).union(predicted).sorted()
        var ps: [Double] = [], rs: [Double] = [], fs: [Double] = []
        for c in classes {
            let (p, r, f) = perClass(c)
            ps.append(p)
            rs.append(r)
            fs.append(f)
        }
        let n = Double(classes.count)
        return (NumpySum.pairwise(ps) / n, NumpySum.pairwise(rs) / n, NumpySum.pairwise(fs) / n)
    }

    /// `roc_auc_score`: for one output value the binary AUC of P(class 1) against `label == 1`;
    /// for K values the one-vs-rest macro average over classes 0..<K (`multi_class="ovr"`,
    /// `average="macro"`). The area under the ROC curve with ties between scores counted as half
    /// (the trapezoid over distinct thresholds, as sklearn draws the curve), computed as the
    /// Mann–Whitney U with mid-ranks. nil when a class (or its rest) has no row.
    public static func rocAUC(labels: [Double], outputs: [[Double]]) -> Double? {
        guard !labels.isEmpty else { return nil }
        if isBinary(outputs) { return binaryAUC(positive: labels.map { $0 == 1 }, scores: outputs.map { $0[0] }) }
        let classes = outputs[0].count
        var areas: [Double] = []
        for k in 0..<classes {
            guard let area = binaryAUC(positive: labels.map { $0 == Double(k) }, scores: outputs.map { $0[k] }) else { return nil }
            areas.append(area)
        }
        return NumpySum.pairwise(areas) / Double(classes)
    }

    /// The binary AUC: (Σ mid-ranks of the positives − n₊(n₊ + 1)/2) / (n₊·n₋).
    public static func binaryAUC(positive: [Bool], scores: [Double]) -> Double? {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var positives = 0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let midRank = Double(start + end + 2) / 2  // ranks are 1-based
            for j in start...end where positive[order[j]] {
                rankSum += midRank
                positives += 1
            }
            start = end + 1
        }
        let negatives = order.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let p = Double(positives), n = Double(negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }

    /// `log_loss`: mean of −ln(clip(P(true class), ε, 1 − ε)) with ε = machine epsilon
    /// (2.22e-16), sklearn's clipping. One value: P(class 1) = p, P(class 0) = 1 − p. K values:
    /// the column of the row's label, no renormalization. nil for no row or a label no output
    /// column scores.
    public static func logLoss(labels: [Double], outputs: [[Double]]) -> Double? {
        guard !labels.isEmpty else { return nil }
        let eps = Double.ulpOfOne
        var losses: [Double] = []
        losses.reserveCapacity(labels.count)
        for (label, output) in zip(labels, outputs) {
            let p: Double
            if output.count == 1 {
                guard label == 0 || label == 1 else { return nil }
                p = label == 1 ? output[0] : 1 - output[0]
            } else {
                guard let k = Int(exactly: label), output.indices.contains(k) else { return nil }
                p = output[k]
            }
            losses.append(-Foundation.log(min(max(p, eps), 1 - eps)))
        }
        return NumpySum.pairwise(losses) / Double(losses.count)
    }
}

/// Regression metrics of a model's first output value against numeric labels, each equal to
/// scikit-learn 1.9's function (checked to 1e-9 by `Tests/Python/performance_reference.py`).
/// nil for no row.
public enum RegressionMetrics {
    /// Every metric, in the order reported: rmse, mae, mape.
    public static func all(labels: [Double], predictions: [Double]) -> [(name: String, value: Double?)] {
        [("rmse", rmse(labels: labels, predictions: predictions)), ("mae", mae(labels: labels, predictions: predictions)),
         ("mape", mape(labels: labels, predictions: predictions))]
    }

    /// `root_mean_squared_error`: √(mean((y − ŷ)²)).
    public static func rmse(labels: [Double], predictions: [Double]) -> Double? {
        guard !labels.isEmpty else { return nil }
        return (NumpySum.pairwise(zip(labels, predictions).map { ($0 - $1) * ($0 - $1) }) / Double(labels.count)).squareRoot()
    }

    /// `mean_absolute_error`: mean(|y − ŷ|).
    public static func mae(labels: [Double], predictions: [Double]) -> Double? {
        guard !labels.isEmpty else { return nil }
        return NumpySum.pairwise(zip(labels, predictions).map { abs($1 - $0) }) / Double(labels.count)
    }

    /// `mean_absolute_percentage_error`: mean(|ŷ − y| / max(|y|, ε)), ε = machine epsilon
    /// (2.22e-16): a label of 0 gives a huge term rather than a division by zero. A share, not
    /// percent (0.1 is 10 %).
    public static func mape(labels: [Double], predictions: [Double]) -> Double? {
        guard !labels.isEmpty else { return nil }
        return NumpySum.pairwise(zip(labels, predictions).map { abs($1 - $0) / max(abs($0), Double.ulpOfOne) }) / Double(labels.count)
    }
}
