import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Synchronization

extension BatchJobStatus: ReconciledStatus {
    /// The runs write `lastRun` and `running` under their own field manager (`capstan-batch`);
    /// the operator writes only these, so it never puts back an older run's summary from its
    /// cache. `nextRun` is the operator's: it follows the spec even while no scheduler runs.
    public static var operatorFields: [String]? { ["observedGeneration", "conditions", "nextRun"] }
}

/// BatchJob → a ConfigMap with the job document and, when it has a schedule, a CronJob running
/// `capstan-batch schedule` (see ``BatchJobSchedulerDesign``). A job that fails
/// `BatchPlan.validate` gets Ready=False with the problem's reason and a message naming the
/// field, and its children are removed, so nothing of it runs. A change to a FeatureView,
/// ModelDeployment or DriftPolicy a step names re-reconciles the job; a run's summary in the
/// status sets Running, Succeeded and Failed.
struct BatchJobReconciler: Reconciler {
    typealias Object = BatchJob
    typealias Status = BatchJobStatus

    static let resource = KubeResource(group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: BatchJob.plural, kind: BatchJob.kind)
    static let owns: [ChildKind] = [.configMap, .cronJob]
    /// The longest a scheduled job waits before its `nextRun` is recomputed.
    static let longestWait: Duration = .seconds(3600)

    let configuration: OperatorConfiguration
    let references = BatchJobReferences()

    var watches: [Watch] {
        [
            Watch(Self.resource) { [references] change in references.update(change); return [] },
            Watch(FeatureViewReconciler.resource) { [references] change in references.jobs(naming: "FeatureView", change.object) },
            Watch(ModelDeploymentReconciler.resource) { [references] change in references.jobs(naming: "ModelDeployment", change.object) },
            Watch(DriftPolicyReconciler.resource) { [references] change in references.jobs(naming: "DriftPolicy", change.object) },
        ]
    }

    func reconcile(_ request: ReconcileRequest<BatchJob, BatchJobStatus>, context: ReconcileContext) async throws -> Reconciliation<BatchJobStatus> {
        let validation: Result<BatchPlan, BatchSpecProblem>
        switch request.decoded {
        case .failure(let invalid):
            validation = .failure(BatchSpecProblem(field: "spec", message: invalid.message))
        case .success(let job):
            let known = BatchPlan.References(
                featureView: { context.object(FeatureViewReconciler.resource, name: $0) != nil },
                modelDeployment: { context.object(ModelDeploymentReconciler.resource, name: $0) != nil },
                driftPolicy: { context.object(DriftPolicyReconciler.resource, name: $0) != nil })
            do {
                validation = .success(try BatchPlan.validate(job.spec, knows: known))
            } catch {
                validation = .failure(error)
            }
        }
        let job = try? request.decoded.get()
        if let owner = request.owner {
            switch validation {
            case .success:
                if let job {
                    try await context.apply(try BatchJobSchedulerDesign.children(of: job, namespace: request.namespace, owner: owner, configuration: configuration))
                }
            case .failure:
                // Nothing of an invalid job runs: its CronJob and ConfigMap go, and come back
                // once the spec is valid again.
                try await context.apply([], prune: true)
            }
        }
        let now = Date()
        let (status, transitions) = BatchJobSchedulerDesign.status(
            job: job, generation: request.generation, previous: request.previous, validation: validation, now: now)
        var next = ReconcileResult.awaitChange
        if let nextRun = BatchJobSchedulerDesign.nextRun(try? validation.get(), now: now) {
            // Come back just after the firing, so nextRun moves on to the one after.
            let wait = Duration.milliseconds(Int64((nextRun.timeIntervalSince(now) * 1000).rounded(.up)) + 1000)
            next = .requeue(after: min(wait, Self.longestWait))
        }
        return Reconciliation(
            status: status, events: ConditionEvents.notes(for: transitions, previous: request.previous?.conditions, problems: [ConditionType.failed]),
            next: next)
    }
}

/// Which jobs name which FeatureView, ModelDeployment or DriftPolicy in their steps
/// (`Kind/namespace/name` → job keys), so creating or changing one re-reconciles the jobs
/// waiting for it (Ready=False `UnknownFeatureView` turns Valid without a spec change).
final class BatchJobReferences: Sendable {
    private struct State {
        var named: [String: Set<String>] = [:]
        var jobs: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// The `Kind/namespace/name` references of a raw BatchJob's steps.
    static func references(of object: JSONValue) -> Set<String> {
        let namespace = object.namespace ?? "default"
        var out = Set<String>()
        for step in object[path: ["spec", "steps"]]?.arrayValue ?? [] {
            func add(_ kind: String, _ value: JSONValue?) {
                if let name = value?.stringValue, !name.isEmpty { out.insert("\(kind)/\(namespace)/\(name)") }
            }
            add("FeatureView", step[path: ["backfill", "featureView"]])
            add("FeatureView", step[path: ["materialize", "featureView"]])
            for feature in step[path: ["trainingSet", "features"]]?.arrayValue ?? [] {
                if let view = feature.stringValue?.split(separator: ".").first { add("FeatureView", .string(String(view))) }
            }
            add("ModelDeployment", step[path: ["registerModel", "modelDeployment"]])
            add("DriftPolicy", step[path: ["driftCheck", "policy"]])
        }
        return out
    }

    func update(_ change: ReflectorChange) {
        let key = change.object.objectKey
        var named = Set<String>()
        if case .applied = change { named = Self.references(of: change.object) }
        state.withLock { state in
            for old in state.named[key] ?? [] { state.jobs[old]?.remove(key) }
            state.named[key] = named.isEmpty ? nil : named
            for reference in named { state.jobs[reference, default: []].insert(key) }
        }
    }

    func jobs(naming kind: String, _ object: JSONValue) -> [String] {
        let key = "\(kind)/\(object.namespace ?? "default")/\(object.name ?? "")"
        return state.withLock { Array($0.jobs[key] ?? []) }
    }
}
