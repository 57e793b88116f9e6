import CapstanAPI

extension FeatureViewDesign {
    /// The status a FeatureView should have, from the compile result and the worker
    /// Deployment (nil while it does not exist yet).
    ///
    /// - Ready: workers available (`WorkersAvailable`), or why not (`InvalidSpec`,
    ///   `DependencyCycle`, `DependencyMissing`, `WorkersUnavailable`).
    /// - Progressing: a rollout is under way (`RollingOut`) or done (`RolledOut`).
    /// - Degraded: the spec cannot run (the same reasons as Ready), or the rollout is stuck
    ///   (`ProgressDeadlineExceeded`).
    public static func status(
        name: String, generation: Int64?, previous: FeatureViewStatus?, compiled: Result<Compiled, SpecProblem>, worker: WorkloadObservation?,
        now: String
    ) -> (status: FeatureViewStatus, transitions: [Condition]) {
        var writer = ConditionWriter(previous: previous?.conditions, generation: generation, now: now)
        var status = FeatureViewStatus(observedGeneration: generation, readyWorkers: worker?.readyReplicas ?? 0)
        status.definitionVersion = previous?.definitionVersion
        switch compiled {
        case .failure(let problem):
            let keeps = worker == nil ? "" : " The workers keep running the last valid definition."
            writer.set(ConditionType.ready, false, problem.reason, problem.message + keeps)
            writer.set(ConditionType.progressing, false, problem.reason, "Not rolling out: the spec has to be fixed first.")
            writer.set(ConditionType.degraded, true, problem.reason, problem.message)
        case .success(let plan):
            status.definitionVersion = plan.definitionVersion
            guard let worker else {
                writer.set(ConditionType.ready, false, "WorkersUnavailable", "The feature-worker Deployment is being created.")
                writer.set(ConditionType.progressing, true, "RollingOut", "Creating the feature-worker Deployment.")
                writer.set(ConditionType.degraded, false, "AsExpected", "")
                break
            }
            if worker.available {
                writer.set(ConditionType.ready, true, "WorkersAvailable", "\(worker.availableReplicas) of \(worker.replicas) workers available.")
            } else {
                writer.set(
                    ConditionType.ready, false, "WorkersUnavailable",
                    "0 of \(worker.replicas) workers available; see the pods of Deployment \(workerName(name)).")
            }
            if worker.rolledOut {
                writer.set(ConditionType.progressing, false, "RolledOut", "Every worker runs definition \(plan.definitionVersion.prefix(12)).")
            } else {
                writer.set(
                    ConditionType.progressing, true, "RollingOut",
                    "\(worker.updatedReplicas) of \(worker.replicas) workers updated to definition \(plan.definitionVersion.prefix(12)).")
            }
            if worker.progressDeadlineExceeded {
                writer.set(ConditionType.degraded, true, "ProgressDeadlineExceeded", "The worker rollout is stuck; see Deployment \(workerName(name)).")
            } else {
                writer.set(ConditionType.degraded, false, "AsExpected", "")
            }
        }
        status.conditions = writer.conditions
        return (status, writer.transitions)
    }
}
