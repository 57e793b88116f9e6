import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanOffline
import Logging

/// `materialize`: copies a FeatureView's newest offline values in `[from, to)` to Redis with
/// ``OnlineMaterializer``. Idempotent: a retried attempt finds the online values current and
/// writes nothing. Outputs: `version`, `entities`, `written`.
public struct MaterializeStepExecutor: BatchStepExecutor {
    public let context: CapstanStepContext

    public init(context: CapstanStepContext) {
        self.context = context
    }

    public var kinds: Set<BatchStep.Kind> { [.materialize] }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let step = invocation.step.materialize else { return StepSupport.missing(.materialize, invocation) }
        guard context.catalog.featureView(named: step.featureView) != nil else {
            return .failed(StepFailure(.invalid, "materialize: no FeatureView '\(step.featureView)' in the definitions"))
        }
        guard let redis = context.redis else {
            return .failed(StepFailure(.invalid, "materialize: no Redis to write to; pass --redis-url (or CAPSTAN_REDIS_URL)"))
        }
        let from: Int64?
        let to: Int64?
        do {
            from = try step.from.map { text throws(StepFailure) in try StepSupport.millis(text, field: "materialize.from") }
            to = try step.to.map { text throws(StepFailure) in try StepSupport.millis(text, field: "materialize.to") }
        } catch {
            return .failed(error)
        }
        return await StepSupport.outcome(doing: "materialize of \(step.featureView)") {
            let done = try await OnlineMaterializer(pool: context.pool, redis: redis, logger: context.logger)
                .materialize(view: step.featureView, fromMillis: from, toMillis: to)
            log.write("materialized \(step.featureView) v\(done.version): \(done.entities) entities, \(done.written) online values written")
            return ["version": String(done.version), "entities": String(done.entities), "written": String(done.written)]
        }
    }
}
