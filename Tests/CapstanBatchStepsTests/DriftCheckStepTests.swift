import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import CapstanCore
import CapstanStoreTestSupport
import Foundation
import Logging
import Testing

@Suite("driftCheck step", .timeLimit(.minutes(5)))
struct DriftCheckStepTests {
    static let t0 = OfflineStepTests.t0

    /// A DriftPolicy on `view.amt`: reference the first hour, current the second.
    static func policy(_ name: String, view: String, threshold: Double) -> String {
        """
        apiVersion: ml.capstan.dev/v1alpha1
        kind: DriftPolicy
        metadata:
          name: \(name)
        spec:
          target:
            featureView: \(view)
            features: [amt]
          reference:
            from: "\(EpochMillis.format(t0).prefix(19))Z"
            to: "\(EpochMillis.format(t0 + 3_600_000).prefix(19))Z"
          current:
            window: 1h
          method: ks
          threshold: \(threshold)
          datasetDriftShare: 0.5
        """
    }

    @Test("passes with its outputs when the policy finds no drift, fails with kind error naming the drifted features when it does")
    func passAndFail() async throws {
        let (pool, _, _) = try await OfflineTestStack.shared.freshStore()
        let view = try OfflineStepTests.view("dcstep")
        _ = try await RawEventLog.write(pool: pool, topic: "dcstep-events", t0: Self.t0)
        let directory = NSTemporaryDirectory() + "capstan-driftcheck-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // ks p-values are far above 1e-9 for samples of one distribution and below 0.9999 for any.
        try (Self.policy("calm", view: "dcstep", threshold: 0.000_000_001) + "\n---\n" + Self.policy("strict", view: "dcstep", threshold: 0.9999))
            .write(toFile: "\(directory)/policies.yaml", atomically: true, encoding: .utf8)
        let policies = try FileBatchCatalog(paths: [directory])
        let catalog = FileBatchCatalog(featureViews: [view], driftPolicies: Array(policies.driftPolicies.values))
        let context = CapstanStepContext(pool: pool, redis: nil, catalog: catalog, logger: Logger(label: "t"))
        var backfill = OfflineStepTests.backfill("dcstep")
        backfill.backfill?.from = EpochMillis.format(Self.t0)
        _ = try #require(Steps.outputs(await BackfillStepExecutor(context: context).execute(Steps.invocation(backfill), log: LinesLog())))

        let now = Date(timeIntervalSince1970: Double(Self.t0 + 2 * 3_600_000) / 1000)
        let executor = DriftCheckStepExecutor(context: context)
        var calm = BatchStep(name: "drift")
        calm.driftCheck = DriftCheckStep(policy: "calm")
        let invocation = Steps.invocation(calm, logicalTime: now)
        let passed = try #require(Steps.outputs(await executor.execute(invocation, log: LinesLog())))
        #expect(passed["drifted"] == "false")
        #expect(passed["driftedFeatures"] == "[]")
        #expect(!(passed["runId"] ?? "").isEmpty)
        let report = try #require(passed["report"])
        #expect(report.hasPrefix(invocation.artifactsDirectory) && FileManager.default.fileExists(atPath: report))

        var strict = BatchStep(name: "drift")
        strict.driftCheck = DriftCheckStep(policy: "strict", failOn: .any)
        let failed = try #require(Steps.failure(await executor.execute(Steps.invocation(strict, logicalTime: now), log: LinesLog())))
        #expect(failed.kind == .error)
        #expect(failed.message.contains("strict") && failed.message.contains("amt drifted"))

        var unknown = BatchStep(name: "drift")
        unknown.driftCheck = DriftCheckStep(policy: "nosuchpolicy")
        let missing = try #require(Steps.failure(await executor.execute(Steps.invocation(unknown, logicalTime: now), log: LinesLog())))
        #expect(missing.kind == .invalid && missing.message.contains("nosuchpolicy"))
        await pool.close()
    }
}
