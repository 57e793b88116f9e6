import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Synchronization

extension DriftPolicyStatus: ReconciledStatus {
    /// The runs write `lastRun` and `worst` under their own field manager; the operator writes
    /// only these, so it never puts back an older run's summary from its cache.
    public static var operatorFields: [String]? { ["observedGeneration", "conditions"] }
}

/// DriftPolicy → a ConfigMap with the resolved policy and, when it has a schedule, a CronJob
/// running `capstan-drift run` (concurrencyPolicy Forbid). A policy that fails a check gets a
/// Ready=False condition naming the field and nothing is scheduled (its CronJob and ConfigMap
/// are removed, so a broken policy never runs). A change to the targeted FeatureView or
/// ModelDeployment re-reconciles the policy; a run's summary in the status sets Drifted,
/// DataQualityDegraded and PerformanceDegraded.
struct DriftPolicyReconciler: Reconciler {
    typealias Object = DriftPolicy
    typealias Status = DriftPolicyStatus

    static let resource = KubeResource(
        group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: DriftPolicy.plural, kind: DriftPolicy.kind)
    static let owns: [ChildKind] = [.configMap, .cronJob]

    let configuration: OperatorConfiguration
    let targets = DriftPolicyTargets()

    var watches: [Watch] {
        [
            Watch(Self.resource) { [targets] change in targets.update(change); return [] },
            Watch(FeatureViewReconciler.resource) { [targets] change in targets.policies(watching: "FeatureView", change.object) },
            Watch(ModelDeploymentReconciler.resource) { [targets] change in targets.policies(watching: "ModelDeployment", change.object) },
        ]
    }

    func reconcile(_ request: ReconcileRequest<DriftPolicy, DriftPolicyStatus>, context: ReconcileContext) async throws -> Reconciliation<DriftPolicyStatus> {
        let resolved: Result<DriftPolicyDesign.Resolved, DriftPolicyDesign.SpecProblem>
        switch request.decoded {
        case .failure(let invalid):
            resolved = .failure(DriftPolicyDesign.rawProblem(request.object) ?? .init(reason: "InvalidSpec", message: invalid.message))
        case .success(let policy):
            resolved = DriftPolicyDesign.validate(
                policy, namespace: request.namespace,
                featureView: { context.lookup(FeatureView.self, in: FeatureViewReconciler.resource, name: $0) },
                modelDeployment: { context.lookup(ModelDeployment.self, in: ModelDeploymentReconciler.resource, name: $0) }, now: Date())
        }
        let policy = try? request.decoded.get()
        if let owner = request.owner {
            switch resolved {
            case .success(let plan):
                if let policy {
                    try await context.apply(
                        try DriftPolicyDesign.children(of: policy, namespace: request.namespace, resolved: plan, owner: owner, configuration: configuration))
                }
            case .failure:
                // Nothing runs on a policy that fails its checks: its CronJob and ConfigMap go,
                // and come back once the policy is valid again.
                try await context.apply([], prune: true)
            }
        }
        let (status, transitions) = DriftPolicyDesign.status(
            policy: policy, generation: request.generation, previous: request.previous, resolved: resolved, now: request.now)
        return Reconciliation(status: status, events: ConditionEvents.notes(for: transitions, previous: request.previous?.conditions))
    }
}

/// Which policies target which FeatureView or ModelDeployment (`Kind/namespace/name` → policy
/// keys), so a change to a target re-reconciles the policies watching it.
final class DriftPolicyTargets: Sendable {
    private struct State {
        var targetOf: [String: String] = [:]
        var policies: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    func update(_ change: ReflectorChange) {
        let object = change.object
        let key = object.objectKey
        let namespace = object.namespace ?? "default"
        var target: String?
        if case .applied = change {
            if let view = object[path: ["spec", "target", "featureView"]]?.stringValue {
                target = "FeatureView/\(namespace)/\(view)"
            } else if let model = object[path: ["spec", "target", "modelDeployment"]]?.stringValue {
                target = "ModelDeployment/\(namespace)/\(model)"
            }
        }
        state.withLock { state in
            if let old = state.targetOf[key] { state.policies[old]?.remove(key) }
            state.targetOf[key] = target
            if let target { state.policies[target, default: []].insert(key) }
        }
    }

    func policies(watching kind: String, _ object: JSONValue) -> [String] {
        let key = "\(kind)/\(object.namespace ?? "default")/\(object.name ?? "")"
        return state.withLock { Array($0.policies[key] ?? []) }
    }
}
