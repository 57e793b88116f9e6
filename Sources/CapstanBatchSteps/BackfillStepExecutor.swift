import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanOffline
import Logging

/// `backfill`: recomputes a FeatureView over `[from, to)` with ``BackfillRunner``, the code path
/// of `capstan backfill`. The catalog's definition is passed to the runner, which registers it
/// as the next version only when it differs from the registered ones. Idempotent: a run is
/// identified by (view, version, from, to) in the backfill ledger, so a retried attempt resumes
/// or returns the finished run, and rows already written are never written again.
/// Outputs: `run` (the backfill ledger id), `version`, `events`, `rows` (written by the whole
/// backfill run, across attempts), `onlineUpdated`.
public struct BackfillStepExecutor: BatchStepExecutor {
    public let context: CapstanStepContext
    public var chunkEvents: Int
    /// Passed to ``BackfillRunner/beforeChunkCommit``: tests throw from it to stop an attempt
    /// mid-run.
    public var beforeChunkCommit: (@Sendable (Int) throws -> Void)?

    public init(context: CapstanStepContext, chunkEvents: Int = 20_000) {
        self.context = context
        self.chunkEvents = chunkEvents
    }

    public var kinds: Set<BatchStep.Kind> { [.backfill] }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let step = invocation.step.backfill else { return StepSupport.missing(.backfill, invocation) }
        guard let view = context.catalog.featureView(named: step.featureView) else {
            return .failed(StepFailure(.invalid, "backfill: no FeatureView '\(step.featureView)' in the definitions"))
        }
        let from: Int64
        let to: Int64
        do {
            from = try StepSupport.millis(step.from, field: "backfill.from")
            to = try StepSupport.millis(step.to, field: "backfill.to")
        } catch {
            return .failed(error)
        }
        guard from < to else { return .failed(StepFailure(.invalid, "backfill: from \(step.from) is not before to \(step.to)")) }
        return await StepSupport.outcome(doing: "backfill of \(step.featureView)") {
            var runner = BackfillRunner(pool: context.pool, redis: context.redis, chunkEvents: chunkEvents, logger: context.logger)
            runner.beforeChunkCommit = beforeChunkCommit
            let id = try await runner.start(BackfillRequest(view: step.featureView, fromMillis: from, toMillis: to, definition: view))
            log.write("backfill run \(id) of \(step.featureView) over [\(step.from), \(step.to))")
            let done = try await runner.run(id)
            log.write("backfill run \(id) \(done.status): version \(done.definitionVersion), \(done.eventsDone) events, \(done.rowsWritten) rows, \(done.onlineUpdated) online values updated")
            return [
                "run": String(id), "version": String(done.definitionVersion), "events": String(done.eventsDone),
                "rows": String(done.rowsWritten), "onlineUpdated": String(done.onlineUpdated),
            ]
        }
    }
}
