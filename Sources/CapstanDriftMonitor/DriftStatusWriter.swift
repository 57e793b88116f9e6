import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation

/// Writes a run's summary into its DriftPolicy's status by server-side apply under the field
/// manager `capstan-drift`: `status.lastRun` and `status.worst` only. The operator owns
/// `observedGeneration` and `conditions` and derives Drifted, DataQualityDegraded and
/// PerformanceDegraded from `lastRun`; neither writer touches the other's fields.
public struct DriftStatusWriter: Sendable {
    public static let fieldManager = "capstan-drift"
    public static let resource = KubeResource(
        group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: DriftPolicy.plural, kind: DriftPolicy.kind)
    /// How many of the worst features the status lists.
    public static let worstCount = 5

    public let client: KubeClient

    public init(client: KubeClient) { self.client = client }

    /// The status fields a run writes.
    public static func summary(_ result: DriftRunResult) -> (lastRun: DriftRunSummary, worst: [FeatureDriftScore]) {
        var run = DriftRunSummary(
            id: result.runID, time: result.finishedAt, driftedFeatures: Int32(result.dataset.driftedFeatures),
            totalFeatures: Int32(result.dataset.totalFeatures), datasetDrift: result.dataset.drifted)
        let broken = result.quality.filter(\.violated)
        run.qualityProblems = Int32(broken.count)
        if !broken.isEmpty {
            run.qualitySummary = broken.prefix(3).map(\.message).joined(separator: "; ") + (broken.count > 3 ? "; and \(broken.count - 3) more" : "")
        }
        if let performance = result.performance {
            // Not judged (no labelled rows on a side): nil, which the operator shows as Unknown `NoLabels`.
            run.performanceDegraded = performance.judged ? performance.degraded : nil
            run.performanceSummary = performance.message
        }
        run.generation = result.policy.generation
        return (run, worst(result))
    }

    /// The features furthest past (or closest to) their thresholds, drifted first: p-values by
    /// threshold / score, distances by score / threshold.
    public static func worst(_ result: DriftRunResult) -> [FeatureDriftScore] {
        let scored: [(FeatureDriftScore, Double)] = result.features.compactMap { feature in
            let s = feature.score
            guard let method = s.method, let score = s.score, let threshold = s.threshold,
                let apiMethod = CapstanAPI.DriftMethod(rawValue: method.rawValue)
            else { return nil }
            let severity = method.isPValueTest ? threshold / max(score, 1e-300) : score / max(threshold, 1e-300)
            return (FeatureDriftScore(feature: s.feature, method: apiMethod, score: score, threshold: threshold, drifted: s.decision == .drifted), severity)
        }
        return scored.sorted { a, b in
            if a.0.drifted != b.0.drifted { return a.0.drifted }
            if a.1 != b.1 { return a.1 > b.1 }
            return a.0.feature < b.0.feature
        }.prefix(worstCount).map(\.0)
    }

    /// Applies the run's summary, unless the status already holds a newer run (a late, slower
    /// run never overwrites a newer one's summary).
    /// - Returns: the policy as the API server holds it afterwards (nil when it does not exist).
    @discardableResult
    public func write(_ result: DriftRunResult) async throws -> JSONValue? {
        let (lastRun, worst) = Self.summary(result)
        let current = try await client.getIfExists(Self.resource, name: result.policy.name, namespace: result.policy.namespace)
        guard let current else { return nil }
        if let time = current["status"]?["lastRun"]?["time"]?.stringValue, time > lastRun.time { return current }
        let status: JSONValue = [
            "lastRun": try ObjectCoding.encode(lastRun),
            "worst": try ObjectCoding.encode(worst),
        ]
        let patch: JSONValue = [
            "apiVersion": .string(CapstanAPIGroup.apiVersion),
            "kind": .string(DriftPolicy.kind),
            "metadata": ["name": .string(result.policy.name), "namespace": .string(result.policy.namespace)],
            "status": status,
        ]
        return try await client.applyStatus(Self.resource, patch, fieldManager: Self.fieldManager)
    }
}
