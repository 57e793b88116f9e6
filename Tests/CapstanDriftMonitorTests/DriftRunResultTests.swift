import CapstanDrift
import CapstanDriftMonitor
import Foundation
import Testing

@Suite("Drift run results")
struct DriftRunResultTests {
    @Test("a result survives a JSON round trip and lists its drifted features")
    func roundTrip() throws {
        let drifted = FeatureScore(
            feature: "fare", kind: .numeric, method: .wasserstein, score: 0.4, threshold: 0.1, decision: .drifted,
            referenceCount: 10, currentCount: 12)
        let stable = FeatureScore(
            feature: "city", kind: .categorical, method: .jensenshannon, score: 0.01, threshold: 0.1, decision: .stable,
            referenceCount: 10, currentCount: 12)
        let result = DriftRunResult(
            runID: "p-1", policy: PolicyIdentity(namespace: "default", name: "p", views: ["trips"]),
            startedAt: "2026-12-07T00:00:00Z", finishedAt: "2026-12-07T00:00:01Z",
            reference: WindowSummary(from: "2026-11-30T00:00:00Z", to: "2026-12-06T00:00:00Z", rows: 10),
            current: WindowSummary(from: "2026-12-06T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 12),
            features: [FeatureResult(score: drifted, distribution: nil), FeatureResult(score: stable, distribution: nil)],
            dataset: DatasetSummary(totalFeatures: 2, driftedFeatures: 1, notComputedFeatures: 0, share: 0.5, driftShare: 0.5, drifted: true))
        let decoded = try JSONDecoder().decode(DriftRunResult.self, from: JSONEncoder().encode(result))
        #expect(decoded == result)
        #expect(decoded.driftedFeatures.map(\.feature) == ["fare"])
    }
}
