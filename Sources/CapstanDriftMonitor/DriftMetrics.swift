import CapstanDrift

/// The Prometheus text exposition (format 0.0.4) of the newest run of each policy, as
/// `capstan-drift serve` exports it from `DriftResultStore.latestRuns()`. Every series is a
/// gauge of that run's outcome: a new run replaces the values.
///
/// Per feature (`namespace`, `policy`, `feature`, `method` labels), from the whole-window rows
/// only (chunk and segment rows are in the results table and the report, not here):
/// - `capstan_drift_score`: the score (a p-value for ks, chisquare and ztest, a distance
///   otherwise); absent when it was not computed.
/// - `capstan_drift_p_value`: the p-value, for the p-value methods only.
/// - `capstan_drift_threshold`: the threshold the score was compared with.
/// - `capstan_drift_detected`: 1 when the feature drifted, else 0 (also for a feature whose
///   score could not be computed; its `method` label is then empty when none was chosen).
///
/// Per policy (`namespace`, `policy`): `capstan_drift_dataset_drifted` (0/1),
/// `capstan_drift_drifted_features`, `capstan_drift_features` (features compared),
/// `capstan_drift_performance_degraded` (0/1, only for policies with `performance`),
/// `capstan_drift_performance_labelled_rows` (labelled predictions scored),
/// `capstan_drift_last_run_timestamp_seconds` (when the run finished, Unix seconds) and
/// `capstan_drift_run_rows` (`window="reference"` or `"current"`).
///
/// Per quality finding (`namespace`, `policy`, `check`, `feature`; `feature` empty for checks of
/// the whole view): `capstan_drift_quality_value`, `capstan_drift_quality_limit` (only when the
/// policy sets one) and `capstan_drift_quality_violated` (0/1).
///
/// Per realized-performance metric (`namespace`, `policy`, `metric`, `window` = `reference` or
/// `current`): `capstan_drift_performance_metric`, absent where the metric was not computable.
///
/// A series is written once: should two rows carry the same labels, the first one counts.
public enum DriftMetrics {
    /// The `Content-Type` of `render`'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The exposition of `runs` (metric families in `Metric`'s order, series in the order of the
    /// runs and their rows; families without series are left out).
    public static func render(_ runs: [StoredDriftRun]) -> String {
        var out = Exposition()
        for stored in runs {
            let run = stored.run
            let policy: [(String, String)] = [("namespace", run.namespace), ("policy", run.policy)]
            for row in stored.results where row.scope == .wholeWindow {
                let score = row.score
                let labels = policy + [("feature", score.feature), ("method", score.method?.rawValue ?? "")]
                if let value = score.score { out.add(.score, labels, value) }
                if let method = score.method, method.isPValueTest, let value = score.pValue { out.add(.pValue, labels, value) }
                if let value = score.threshold { out.add(.threshold, labels, value) }
                out.add(.detected, labels, score.decision == .drifted ? 1 : 0)
            }
            out.add(.datasetDrifted, policy, run.datasetDrift ? 1 : 0)
            out.add(.driftedFeatures, policy, Double(run.driftedFeatures))
            out.add(.features, policy, Double(run.totalFeatures))
            for finding in stored.quality {
                let labels = policy + [("check", finding.check.rawValue), ("feature", finding.feature ?? "")]
                out.add(.qualityValue, labels, finding.value)
                if let limit = finding.limit { out.add(.qualityLimit, labels, limit) }
                out.add(.qualityViolated, labels, finding.violated ? 1 : 0)
            }
            if let degraded = run.performanceDegraded { out.add(.performanceDegraded, policy, degraded ? 1 : 0) }
            for metric in stored.performance {
                let labels = policy + [("metric", metric.name)]
                if let value = metric.reference { out.add(.performanceMetric, labels + [("window", "reference")], value) }
                if let value = metric.current { out.add(.performanceMetric, labels + [("window", "current")], value) }
            }
            if let rows = stored.labelledRows { out.add(.performanceLabelledRows, policy, Double(rows)) }
            out.add(.lastRun, policy, Double(run.finishedAt) / 1000)
            out.add(.runRows, policy + [("window", "reference")], Double(run.reference.rows))
            out.add(.runRows, policy + [("window", "current")], Double(run.current.rows))
        }
        return out.text
    }

    /// The metric families, in the order they are written.
    public enum Metric: String, CaseIterable, Sendable {
        case score = "capstan_drift_score"
        case pValue = "capstan_drift_p_value"
        case threshold = "capstan_drift_threshold"
        case detected = "capstan_drift_detected"
        case datasetDrifted = "capstan_drift_dataset_drifted"
        case driftedFeatures = "capstan_drift_drifted_features"
        case features = "capstan_drift_features"
        case qualityValue = "capstan_drift_quality_value"
        case qualityLimit = "capstan_drift_quality_limit"
        case qualityViolated = "capstan_drift_quality_violated"
        case performanceDegraded = "capstan_drift_performance_degraded"
        case performanceMetric = "capstan_drift_performance_metric"
        case performanceLabelledRows = "capstan_drift_performance_labelled_rows"
        case lastRun = "capstan_drift_last_run_timestamp_seconds"
        case runRows = "capstan_drift_run_rows"

        /// The HELP text.
        public var help: String {
            switch self {
            case .score: "Drift score of a feature over the whole current window in the policy's newest run (a p-value or a distance, by method)."
            case .pValue: "P-value of a feature's drift test (ks, chisquare, ztest) in the policy's newest run."
            case .threshold: "Threshold a feature's drift score was compared with in the policy's newest run."
            case .detected: "1 when the feature drifted over the whole current window in the policy's newest run, else 0."
            case .datasetDrifted: "1 when the policy's newest run found dataset drift (the drifted share reached datasetDriftShare), else 0."
            case .driftedFeatures: "Features that drifted in the policy's newest run."
            case .features: "Features compared in the policy's newest run."
            case .qualityValue: "Measured value of a data-quality check in the policy's newest run."
            case .qualityLimit: "The policy's limit for a data-quality check (absent when the check is only measured)."
            case .qualityViolated: "1 when a data-quality check broke its limit in the policy's newest run, else 0."
            case .performanceDegraded: "1 when the model's realized performance degraded in the policy's newest run, else 0."
            case .performanceMetric:
                "A realized-performance metric (auc, accuracy, precision, recall, f1, log_loss, rmse, mae, mape) of the model on the labelled predictions of the reference or current window in the policy's newest run."
            case .performanceLabelledRows: "Labelled predictions of the current window the policy's newest run scored."
            case .lastRun: "When the policy's newest run finished, in seconds since the Unix epoch."
            case .runRows: "Rows in the reference and current windows of the policy's newest run."
            }
        }
    }

    /// A label value as the text format writes it: backslash, double quote and line feed escaped.
    static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample value: integers without a fraction, `NaN`, `+Inf`, `-Inf`, else Swift's shortest
    /// round-trip spelling (which Prometheus parses).
    static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Samples per family; each label set once (the first sample wins).
    private struct Exposition {
        private var lines: [Metric: [String]] = [:]
        private var seen: [Metric: Set<String>] = [:]

        mutating func add(_ metric: Metric, _ labels: [(String, String)], _ value: Double) {
            let labelText = labels.map { "\($0.0)=\"\(DriftMetrics.escapeLabelValue($0.1))\"" }.joined(separator: ",")
            guard seen[metric, default: []].insert(labelText).inserted else { return }
            lines[metric, default: []].append("\(metric.rawValue){\(labelText)} \(DriftMetrics.formatValue(value))")
        }

        var text: String {
            var out = ""
            for metric in Metric.allCases {
                guard let samples = lines[metric] else { continue }
                out += "# HELP \(metric.rawValue) \(DriftMetrics.escapeHelp(metric.help))\n# TYPE \(metric.rawValue) gauge\n"
                for sample in samples { out += sample + "\n" }
            }
            return out
        }
    }
}
