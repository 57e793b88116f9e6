import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Synchronization

extension FeatureViewStatus: ReconciledStatus {}

/// FeatureView → a feature-worker Deployment, its HPA and the ConfigMap with the compiled plan.
/// A spec that cannot run leaves the existing children alone (the workers keep the last valid
/// definition) and says why in the conditions. A change to a view re-reconciles the views that
/// depend on it.
struct FeatureViewReconciler: Reconciler {
    typealias Object = FeatureView
    typealias Status = FeatureViewStatus

    static let resource = KubeResource(group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: FeatureView.plural, kind: FeatureView.kind)
    static let owns: [ChildKind] = [.configMap, .deployment, .horizontalPodAutoscaler]

    let configuration: OperatorConfiguration
    let dependents = FeatureViewDependents()

    var watches: [Watch] { [Watch(Self.resource) { [dependents] change in Array(dependents.update(change)) }] }

    func reconcile(_ request: ReconcileRequest<FeatureView, FeatureViewStatus>, context: ReconcileContext) async throws -> Reconciliation<FeatureViewStatus> {
        let compiled: Result<FeatureViewDesign.Compiled, FeatureViewDesign.SpecProblem>
        switch request.decoded {
        case .failure(let invalid):
            compiled = .failure(.init(reason: "InvalidSpec", message: invalid.message))
        case .success(let view):
            compiled = FeatureViewDesign.compile(view) { dependency in context.lookup(FeatureView.self, in: Self.resource, name: dependency) }
        }
        var applied = AppliedChildren()
        if case .success(let plan) = compiled, case .success(let view) = request.decoded, let owner = request.owner {
            let children = FeatureViewDesign.children(of: view, compiled: plan, owner: owner, configuration: configuration)
            applied = try await context.apply(children)
        }
        let worker = context.freshest(.deployment, name: FeatureViewDesign.workerName(request.name), applied: applied).map(WorkloadObservation.init(deployment:))
        let (status, transitions) = FeatureViewDesign.status(
            name: request.name, generation: request.generation, previous: request.previous, compiled: compiled, worker: worker, now: request.now)
        return Reconciliation(status: status, events: ConditionEvents.notes(for: transitions, previous: request.previous?.conditions))
    }
}

/// Which FeatureViews depend on which (`namespace/name` → views listing it in `dependsOn`), so
/// a change to a view re-reconciles its dependents.
final class FeatureViewDependents: Sendable {
    private struct State {
        var dependsOn: [String: [String]] = [:]
        var dependents: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// Records the change; returns the keys of the views that depend on the changed one.
    func update(_ change: ReflectorChange) -> Set<String> {
        let object = change.object
        let key = object.objectKey
        let namespace = object.namespace ?? "default"
        var new: [String] = []
        if case .applied = change {
            new = (object[path: ["spec", "dependsOn"]]?.arrayValue ?? []).compactMap { $0.stringValue.map { "\(namespace)/\($0)" } }
        }
        return state.withLock { state in
            for old in state.dependsOn[key] ?? [] { state.dependents[old]?.remove(key) }
            for dependency in new { state.dependents[dependency, default: []].insert(key) }
            state.dependsOn[key] = new.isEmpty ? nil : new
            return state.dependents[key] ?? []
        }
    }
}
