import CapstanBatch

/// Capstan's own step kinds, ready to hand to the runner: `backfill`, `trainingSet`,
/// `materialize`, `driftCheck` over `context`, and `registerModel` over `registry`.
public enum CapstanStepExecutors {
    public static func all(context: CapstanStepContext, registry: any ModelRegistry) -> [any BatchStepExecutor] {
        [
            BackfillStepExecutor(context: context), TrainingSetStepExecutor(context: context), MaterializeStepExecutor(context: context),
            RegisterModelStepExecutor(catalog: context.catalog, registry: registry), DriftCheckStepExecutor(context: context),
        ]
    }
}
