import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanDriftMonitor
import Foundation
import Logging

/// `driftCheck`: runs a DriftPolicy once, as `capstan drift run` does (``DriftPolicyCheck``,
/// ``DriftMonitorRun``), as of the run's logical time, storing the result with the policy's
/// other runs and writing the HTML report into the step's artifacts directory. A model policy
/// finds its ModelDeployment in the catalog. The step fails (kind `error`) on what `failOn`
/// names: `drift` (dataset drift, default), `quality` (a violated data-quality limit),
/// `performance` (degraded realized performance) or `any`; the message names the drifted
/// features or the violated checks. Outputs: `runId`, `drifted`, `driftedFeatures` (JSON
/// array), `qualityProblems`, `performanceDegraded`, `report`.
public struct DriftCheckStepExecutor: BatchStepExecutor {
    public let context: CapstanStepContext

    public init(context: CapstanStepContext) {
        self.context = context
    }

    public var kinds: Set<BatchStep.Kind> { [.driftCheck] }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let step = invocation.step.driftCheck else { return StepSupport.missing(.driftCheck, invocation) }
        guard let policy = context.catalog.driftPolicy(named: step.policy) else {
            return .failed(StepFailure(.invalid, "driftCheck: no DriftPolicy '\(step.policy)' in the definitions"))
        }
        let deployment = policy.spec.target.modelDeployment.flatMap { context.catalog.modelDeployment(named: $0) }
        let now = invocation.run.logicalTime
        let document: DriftPolicyDocument
        do {
            document = try await DriftPolicyCheck.document(
                policy, namespace: invocation.namespace, pool: context.pool, deployment: deployment, now: now,
                missingDeploymentHint: " (add the ModelDeployment's manifest to the definitions)")
        } catch let problem as DriftPolicyCheck.Invalid {
            return .failed(StepFailure(.invalid, "driftCheck: DriftPolicy \(step.policy): \(problem.message)"))
        } catch {
            return .failed(StepSupport.failure(error, doing: "driftCheck of \(step.policy)"))
        }
        let failOn = step.failOn ?? .drift
        do {
            let (result, report) = try await run(document, now: now, reportDirectory: invocation.artifactsDirectory, log: log)
            return Self.judge(result, failOn: failOn, report: report, log: log)
        } catch {
            return .failed(StepSupport.failure(error, doing: "driftCheck of \(step.policy)"))
        }
    }

    /// Runs the policy once and stores the result; returns it with the report's path.
    func run(_ document: DriftPolicyDocument, now: Date, reportDirectory: String, log: any StepLog) async throws -> (DriftRunResult, String?) {
        let results = DriftResultStore(pool: context.pool, logger: context.logger)
        try await results.migrate()
        let health = try StoreViewHealth(pool: context.pool, redisURL: context.redisURL, logger: context.logger)
        let outcome: DriftMonitorRun.Outcome
        do {
            outcome = try await DriftMonitorRun(
                runner: DriftRunner(
                    source: DriftWindowReader(pool: context.pool), health: health, predictions: PredictionWindowReader(pool: context.pool),
                    profiles: DriftProfileOptions(store: DriftProfileStore(pool: context.pool, logger: context.logger), logger: context.logger)),
                store: results, options: DriftMonitorRun.Options(reportDirectory: reportDirectory), logger: context.logger
            ).execute(document, now: now)
        } catch {
            await health.close()
            throw error
        }
        await health.close()
        for problem in outcome.problems { log.write("warning: \(problem)") }
        return (outcome.result, outcome.reportPath)
    }

    /// The step's outcome for a run's result.
    static func judge(_ result: DriftRunResult, failOn: DriftCheckStep.FailOn, report: String?, log: any StepLog) -> StepOutcome {
        let drifted = result.driftedFeatures.map(\.feature)
        let quality = result.quality.filter(\.violated)
        let degraded = result.performance?.degraded ?? false
        let outputs = [
            "runId": result.runID, "drifted": String(result.dataset.drifted), "driftedFeatures": StepSupport.jsonArray(drifted),
            "qualityProblems": String(quality.count), "performanceDegraded": String(degraded), "report": report ?? "",
        ]
        log.write(
            "drift run \(result.runID): \(result.dataset.driftedFeatures) of \(result.dataset.totalFeatures) features drifted (dataset drift \(result.dataset.drifted)), \(quality.count) quality problems, performance degraded \(degraded)")
        var reasons: [String] = []
        if failOn == .drift || failOn == .any, result.dataset.drifted {
            reasons.append("dataset drift: \(drifted.joined(separator: ", ")) drifted (\(drifted.count) of \(result.dataset.totalFeatures) features)")
        }
        if failOn == .quality || failOn == .any, !quality.isEmpty {
            reasons.append("data quality: " + quality.map(\.message).joined(separator: "; "))
        }
        if failOn == .performance || failOn == .any, degraded, let performance = result.performance {
            reasons.append("performance: \(performance.message)")
        }
        guard reasons.isEmpty else {
            return .failed(StepFailure(.error, "DriftPolicy \(result.policy.name) run \(result.runID) failed on \(failOn.rawValue): " + reasons.joined(separator: "; ")))
        }
        return .succeeded(outputs: outputs)
    }
}
