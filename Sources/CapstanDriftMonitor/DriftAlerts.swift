import CapstanDrift
import CapstanKube
import Foundation

/// The alerts a drift run can raise (the `alertname` label).
public enum DriftAlertName: String, Sendable, Hashable, Codable, CaseIterable {
    /// One per policy and feature while the feature drifts over the whole current window.
    case featureDrift = "CapstanFeatureDrift"
    /// One per policy while the dataset drifts (the share of drifted features reaches `driftShare`).
    case datasetDrift = "CapstanDatasetDrift"
    /// One per policy while at least one data-quality rule is broken.
    case dataQuality = "CapstanDataQuality"
    /// One per policy while realized performance is degraded against the reference.
    case performanceDegraded = "CapstanPerformanceDegraded"
}

/// One alert as Alertmanager and the webhooks see it: the labels identify it (they are what
/// Alertmanager fingerprints), the annotations describe it and change from run to run.
///
/// Labels: `alertname`, `namespace`, `policy`, `severity`, and for feature drift `feature` and
/// `method` (the concrete statistic). Annotations: `summary`, `description`, `run_id`, `score` and
/// `threshold` where the alert has them, `report` when a report URL is known.
public struct DriftAlert: Sendable, Hashable, Codable {
    public var labels: [String: String]
    public var annotations: [String: String]
    /// When the alert started firing; kept unchanged for as long as it fires.
    public var startsAt: Date
    /// The run's report (Alertmanager's "source" link).
    public var generatorURL: String?

    public init(labels: [String: String], annotations: [String: String], startsAt: Date, generatorURL: String? = nil) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.generatorURL = generatorURL
    }

    public var name: DriftAlertName? { labels["alertname"].flatMap(DriftAlertName.init(rawValue:)) }
    public var namespace: String? { labels["namespace"] }
    public var policy: String? { labels["policy"] }
    public var feature: String? { labels["feature"] }

    private enum CodingKeys: String, CodingKey { case labels, annotations, startsAt, generatorURL }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        labels = try container.decode([String: String].self, forKey: .labels)
        annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        let text = try container.decode(String.self, forKey: .startsAt)
        guard let date = RFC3339.date(text) else {
            throw DecodingError.dataCorruptedError(forKey: .startsAt, in: container, debugDescription: "startsAt \"\(text)\" is not RFC 3339")
        }
        startsAt = date
        generatorURL = try container.decodeIfPresent(String.self, forKey: .generatorURL)
    }

    /// `startsAt` is written as RFC 3339 UTC with milliseconds, whatever the encoder's date strategy.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(labels, forKey: .labels)
        try container.encode(annotations, forKey: .annotations)
        try container.encode(RFC3339.string(startsAt), forKey: .startsAt)
        try container.encodeIfPresent(generatorURL, forKey: .generatorURL)
    }
}

/// What one run changes: the storm-free comparison of the alerts a run raises with the ones that
/// were firing after the previous run.
public struct DriftAlertDecision: Sendable, Hashable {
    /// Alerts that start firing with this run.
    public var firing: [DriftAlert]
    /// Alerts that were firing and still are (this run's annotations, the first `startsAt`).
    /// Alertmanager gets them again each run to keep them active; webhooks do not.
    public var unchanged: [DriftAlert]
    /// Alerts that were firing and no longer are, exactly as they were last sent.
    public var resolved: [DriftAlert]

    public init(firing: [DriftAlert], unchanged: [DriftAlert], resolved: [DriftAlert]) {
        self.firing = firing
        self.unchanged = unchanged
        self.resolved = resolved
    }

    /// Every alert firing after this run: pass it as `previous` to the next run's decision.
    public var active: [DriftAlert] { firing + unchanged }
    /// False when the run neither started nor ended an alert (webhooks then get nothing).
    public var hasChanges: Bool { !firing.isEmpty || !resolved.isEmpty }
}

/// Turns a run's result into alerts and decides, against the previous run's, which fire,
/// which stay firing and which resolve.
///
/// The rules, so that an operator gets one alert per problem and not one per run:
/// - An alert is identified by its labels. An alert raised now with the labels of one firing
///   before is `unchanged` (it keeps its `startsAt`); a new label set is `firing`; a previous
///   alert this run does not raise again is `resolved`. A feature whose concrete method changed
///   (`auto` picking another test) therefore resolves the old alert and fires a new one.
/// - A run that could not judge something leaves its alert as it was (`unchanged`, with the
///   previous annotations): a feature whose score was `notComputed` (empty window, ...), the
///   dataset when no feature could be computed, performance while no labelled row was scored.
///   A feature that is no longer in the result (removed from the policy) resolves; so does
///   performance when the policy no longer has `performance`.
/// - Previous alerts of other policies (another `namespace`/`policy` label) are ignored: they
///   are neither kept nor resolved.
public struct DriftAlertRules: Sendable, Hashable {
    /// The `severity` label (default `warning`).
    public var severity: String
    /// The run's HTML report, put in the `report` annotation and the generator URL.
    public var reportURL: String?

    public init(severity: String = "warning", reportURL: String? = nil) {
        self.severity = severity
        self.reportURL = reportURL
    }

    /// The alerts active after the last of `runs` (oldest first), each with the start of the run
    /// that first raised it: the decisions replayed run by run, so a feature drifting for ten
    /// runs keeps the first run's `startsAt`, and one that stopped in between starts again.
    public func active(after runs: [DriftRunResult]) -> [DriftAlert] {
        var active: [DriftAlert] = []
        for run in runs {
            guard let started = KubeTime.parse(run.startedAt) else { continue }
            active = decide(run, previous: active, now: started).active
        }
        return active
    }

    /// Compares the alerts `result` raises with `previous` (the `active` alerts after the
    /// previous run, or what Alertmanager lists for the policy). New alerts start at `now`.
    public func decide(_ result: DriftRunResult, previous: [DriftAlert], now: Date = Date()) -> DriftAlertDecision {
        let namespace = result.policy.namespace, policy = result.policy.name
        // One previous alert per label set, the earliest start winning.
        var earlier: [[String: String]: DriftAlert] = [:]
        var order: [[String: String]] = []
        for alert in previous where alert.namespace == namespace && alert.policy == policy {
            if let seen = earlier[alert.labels] {
                if alert.startsAt < seen.startsAt { earlier[alert.labels] = alert }
            } else {
                earlier[alert.labels] = alert
                order.append(alert.labels)
            }
        }

        var firing: [DriftAlert] = [], unchanged: [DriftAlert] = []
        var raised = Set<[String: String]>()
        for var alert in alerts(for: result, startingAt: now) {
            raised.insert(alert.labels)
            if let before = earlier[alert.labels] {
                alert.startsAt = before.startsAt
                unchanged.append(alert)
            } else {
                firing.append(alert)
            }
        }
        var resolved: [DriftAlert] = []
        for labels in order where !raised.contains(labels) {
            guard let before = earlier[labels] else { continue }
            if Self.isUndecided(before, in: result) {
                unchanged.append(before)
            } else {
                resolved.append(before)
            }
        }
        return DriftAlertDecision(firing: firing, unchanged: unchanged, resolved: resolved)
    }

    /// The alerts `result` raises on its own, in a stable order: features in the policy's
    /// order, then dataset drift, data quality and performance.
    public func alerts(for result: DriftRunResult, startingAt start: Date) -> [DriftAlert] {
        var out: [DriftAlert] = []
        for feature in result.driftedFeatures { out.append(featureAlert(feature.score, in: result, start: start)) }
        if result.dataset.drifted { out.append(datasetAlert(result, start: start)) }
        let broken = result.quality.filter(\.violated)
        if !broken.isEmpty { out.append(qualityAlert(broken, in: result, start: start)) }
        if let performance = result.performance, performance.degraded {
            out.append(performanceAlert(performance, in: result, start: start))
        }
        return out
    }

    /// True when `result` says nothing about what `alert` is about (see the type's rules).
    static func isUndecided(_ alert: DriftAlert, in result: DriftRunResult) -> Bool {
        switch alert.name {
        case .featureDrift:
            guard let feature = alert.feature, let score = result.features.first(where: { $0.feature == feature }) else { return false }
            return score.decision == .notComputed
        case .datasetDrift:
            return result.dataset.totalFeatures - result.dataset.notComputedFeatures <= 0
        case .performanceDegraded:
            return result.performance.map { $0.labelledRows == 0 } ?? false
        case .dataQuality, nil:
            return false
        }
    }

    // MARK: - The four alerts

    private func baseLabels(_ name: DriftAlertName, _ result: DriftRunResult) -> [String: String] {
        ["alertname": name.rawValue, "namespace": result.policy.namespace, "policy": result.policy.name, "severity": severity]
    }

    private func baseAnnotations(summary: String, description: String, _ result: DriftRunResult) -> [String: String] {
        var annotations = ["summary": summary, "description": description, "run_id": result.runID]
        if let reportURL { annotations["report"] = reportURL }
        return annotations
    }

    private func featureAlert(_ score: FeatureScore, in result: DriftRunResult, start: Date) -> DriftAlert {
        let method = score.method?.rawValue ?? "unknown"
        var labels = baseLabels(.featureDrift, result)
        labels["feature"] = score.feature
        labels["method"] = method
        let policy = Self.policyName(result)
        let summary = "Feature \(score.feature) drifted in DriftPolicy \(policy) (\(method))"
        var description = "\(score.feature): \(Self.comparison(score)). "
        description += "Current window \(result.current.from) – \(result.current.to) (\(score.currentCount) values) against "
        description += "\(score.referenceCount) reference values (\(result.reference.from) – \(result.reference.to)). "
        description += "Compare the two distributions in the run's report; if the change is expected, move the reference window "
        description += "or retrain on recent data, otherwise look for a broken upstream source of \(score.feature)."
        var annotations = baseAnnotations(summary: summary, description: description, result)
        if let value = score.score { annotations["score"] = Self.number(value) }
        if let threshold = score.threshold { annotations["threshold"] = Self.number(threshold) }
        return DriftAlert(labels: labels, annotations: annotations, startsAt: start, generatorURL: reportURL)
    }

    private func datasetAlert(_ result: DriftRunResult, start: Date) -> DriftAlert {
        let dataset = result.dataset
        let computed = dataset.totalFeatures - dataset.notComputedFeatures
        let names = result.driftedFeatures.map(\.feature)
        let listed = names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", …" : "")
        let summary = "Dataset drift in DriftPolicy \(Self.policyName(result)): \(dataset.driftedFeatures) of \(computed) features drifted"
        var description = "\(dataset.driftedFeatures) of \(computed) computed features drifted (share \(Self.short(dataset.share)), "
        description += "at or above the dataset drift share \(Self.short(dataset.driftShare)))"
        description += names.isEmpty ? ". " : ": \(listed). "
        description += "A model trained on the reference data is likely to be off; consider retraining (onDrift can start a BatchJob)."
        var annotations = baseAnnotations(summary: summary, description: description, result)
        annotations["score"] = Self.number(dataset.share)
        annotations["threshold"] = Self.number(dataset.driftShare)
        return DriftAlert(labels: baseLabels(.datasetDrift, result), annotations: annotations, startsAt: start, generatorURL: reportURL)
    }

    private func qualityAlert(_ broken: [QualityFinding], in result: DriftRunResult, start: Date) -> DriftAlert {
        let rules = broken.count == 1 ? "1 data-quality rule" : "\(broken.count) data-quality rules"
        let summary = "\(rules) broken in DriftPolicy \(Self.policyName(result))"
        var description = broken.prefix(10).map(\.message).joined(separator: "; ") + (broken.count > 10 ? "; …" : "") + ". "
        description += "Check the sources of view \(result.policy.views.joined(separator: ", ")) (rejected rows are on the dead-letter topic) "
        description += "or adjust the policy's dataQuality limits if the new values are expected."
        var annotations = baseAnnotations(summary: summary, description: description, result)
        annotations["violations"] = String(broken.count)
        if broken.count == 1 {
            annotations["score"] = Self.number(broken[0].value)
            if let limit = broken[0].limit { annotations["threshold"] = Self.number(limit) }
        }
        return DriftAlert(labels: baseLabels(.dataQuality, result), annotations: annotations, startsAt: start, generatorURL: reportURL)
    }

    private func performanceAlert(_ performance: PerformanceResult, in result: DriftRunResult, start: Date) -> DriftAlert {
        let summary = "Model performance degraded in DriftPolicy \(Self.policyName(result))"
        var description = performance.message.isEmpty ? "Realized performance fell against the reference" : performance.message
        description += " (\(performance.labelledRows) labelled rows). "
        description += "Look at the drifted inputs in the run's report and retrain, or roll back to an earlier model version."
        var annotations = baseAnnotations(summary: summary, description: description, result)
        // The metric that fell furthest; the policy's maxDrop is not part of the result.
        let drops = performance.metrics.compactMap { metric -> (PerformanceResult.Metric, Double)? in
            guard let reference = metric.reference, let current = metric.current else { return nil }
            return (metric, metric.higherIsBetter ? reference - current : current - reference)
        }
        if let worst = drops.max(by: { $0.1 < $1.1 }) {
            annotations["metric"] = worst.0.name
            annotations["score"] = Self.number(worst.0.current ?? .nan)
            annotations["reference"] = Self.number(worst.0.reference ?? .nan)
        }
        return DriftAlert(
            labels: baseLabels(.performanceDegraded, result), annotations: annotations, startsAt: start, generatorURL: reportURL)
    }

    // MARK: - Wording

    static func policyName(_ result: DriftRunResult) -> String { "\(result.policy.namespace)/\(result.policy.name)" }

    /// "wasserstein distance 0.412 is at or above the threshold 0.1", "ks p-value 0.0012 is below
    /// the threshold 0.05", or the reference chunks' range for `thresholdMode: referenceChunks`.
    static func comparison(_ score: FeatureScore) -> String {
        let method = score.method
        let what = method.map { $0.isPValueTest ? "\($0.rawValue) p-value" : "\($0.rawValue) distance" } ?? "score"
        guard let value = score.score else { return "\(what) not available" }
        if let lower = score.lower, let upper = score.upper {
            return "\(what) \(short(value)) is outside the reference chunks' range [\(short(lower)), \(short(upper))]"
        }
        guard let threshold = score.threshold else { return "\(what) \(short(value))" }
        let relation = method?.isPValueTest == true ? "is below" : "is at or above"
        return "\(what) \(short(value)) \(relation) the threshold \(short(threshold))"
    }

    /// Full precision for annotations machines may read.
    static func number(_ value: Double) -> String { value.isFinite ? String(format: "%.6g", value) : "NaN" }
    /// Three significant digits for sentences.
    static func short(_ value: Double) -> String { value.isFinite ? String(format: "%.3g", value) : "NaN" }
}

/// RFC 3339 timestamps as Alertmanager writes and reads them (UTC, milliseconds).
enum RFC3339 {
    /// `2026-12-07T10:00:24.226Z`: rounded to the nearest millisecond. (Formatting the fraction
    /// directly would truncate: a time read back as 24.2259998… would be written 24.225, and an
    /// alert re-sent every run would start a millisecond earlier each time.)
    static func string(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = (milliseconds.floorDivided(by: 1000), milliseconds.floorModulo(1000))
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(Date.ISO8601FormatStyle())
        return whole.dropLast() + "." + String(String(fraction + 1000).dropFirst()) + "Z"
    }

    static func date(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int64) -> Int64 { self - floorDivided(by: divisor) * divisor }
}
