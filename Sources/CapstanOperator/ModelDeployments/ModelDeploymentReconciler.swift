import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime

extension ModelDeploymentStatus: ReconciledStatus {}

/// ModelDeployment → per version a model-server Deployment, Service and HPA; a gateway
/// Deployment, Service and HPA; the traffic table in a ConfigMap. Observes each version's
/// Deployment and the gateway, computes the effective traffic table (unready versions get
/// none), applies the children (the table included), deletes the children of versions removed
/// from the spec, and reports it all in the status. While at least one DriftPolicy watches the
/// ModelDeployment, also its prediction log consumer (`<name>-predictions`, one however many
/// policies watch it); it is pruned when the last such policy goes or looks elsewhere.
struct ModelDeploymentReconciler: Reconciler {
    typealias Object = ModelDeployment
    typealias Status = ModelDeploymentStatus

    static let resource = KubeResource(
        group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: ModelDeployment.plural, kind: ModelDeployment.kind)
    static let owns: [ChildKind] = [.configMap, .deployment, .service, .horizontalPodAutoscaler]

    let configuration: OperatorConfiguration

    /// A DriftPolicy that starts or stops watching a ModelDeployment re-reconciles it (stored:
    /// the watch remembers what each policy watched).
    let watches: [Watch] = [
        Watch.referencing(DriftPolicyReconciler.resource) { policy in
            guard let target = policy[path: ["spec", "target", "modelDeployment"]]?.stringValue else { return [] }
            return ["\(policy.namespace ?? "default")/\(target)"]
        }
    ]

    func reconcile(
        _ request: ReconcileRequest<ModelDeployment, ModelDeploymentStatus>, context: ReconcileContext
    ) async throws -> Reconciliation<ModelDeploymentStatus> {
        let md = try? request.decoded.get()
        let problem: FeatureViewDesign.SpecProblem?
        switch request.decoded {
        case .failure(let invalid): problem = .init(reason: "InvalidSpec", message: invalid.message)
        case .success(let decoded): problem = ModelDeploymentDesign.validate(decoded.spec)
        }
        let name = request.name
        func observe(_ applied: AppliedChildren) -> (status: ModelDeploymentStatus, transitions: [Condition], effective: [TrafficEntry]) {
            func workload(_ deployment: String) -> WorkloadObservation? {
                context.freshest(.deployment, name: deployment, applied: applied).map(WorkloadObservation.init(deployment:))
            }
            var versions: [String: WorkloadObservation] = [:]
            for version in md?.spec.versions ?? [] {
                versions[version.name] = workload(ModelDeploymentDesign.versionName(name, version.name))
            }
            return ModelDeploymentDesign.status(
                name: name, namespace: request.namespace, generation: request.generation, previous: request.previous, spec: md?.spec,
                problem: problem, versions: versions, gateway: workload(ModelDeploymentDesign.gatewayName(name)),
                clusterDomain: configuration.clusterDomain, now: request.now)
        }
        var (status, transitions, effective) = observe(AppliedChildren())
        if problem == nil, let md, let owner = request.owner {
            let watchedBy = ModelDeploymentDesign.watchingPolicies(of: name, in: context.objects(DriftPolicyReconciler.resource))
            let predictionLog = watchedBy.isEmpty ? [] : [ModelDeploymentDesign.predictionLog(of: md, owner: owner, configuration: configuration)]
            let children = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: configuration) + predictionLog
            let applied = try await context.apply(children)
            if !applied.isEmpty {
                // The applies' answers may show versions that became ready meanwhile: settle the
                // traffic table on the freshest readiness before writing status.
                (status, transitions, effective) = observe(applied)
                let settled = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: configuration) + predictionLog
                let changed = zip(settled, children).filter { $0 != $1 }.map(\.0)
                if !changed.isEmpty { try await context.apply(changed, prune: false) }
            }
        }
        return Reconciliation(status: status, events: ConditionEvents.notes(for: transitions, previous: request.previous?.conditions))
    }
}
