import CapstanAPI
import CapstanKube
import CapstanKubeRuntime

extension Operator {
    /// Level-based: observe each version's Deployment and the gateway, compute the effective
    /// traffic table (unready versions get none), apply the children (the table included),
    /// delete the children of versions removed from the spec, write status.
    func reconcileModelDeployment(_ key: String) async throws -> ReconcileResult {
        guard let object = modelDeploymentReflector.store.get(key) else {
            index.forgetOwner(kind: ModelDeployment.kind, key: key)
            return .awaitChange
        }
        if object.deletionTimestamp != nil { return .awaitChange }
        let namespace = object.namespace ?? "default"
        let name = object.name ?? ""
        let previous = object["status"].flatMap { try? ObjectCoding.decode(ModelDeploymentStatus.self, from: $0) }

        var md: ModelDeployment?
        var problem: FeatureViewDesign.SpecProblem?
        do {
            let decoded = try ObjectCoding.decode(ModelDeployment.self, from: object)
            md = decoded
            problem = ModelDeploymentDesign.validate(decoded.spec)
        } catch {
            problem = .init(reason: "InvalidSpec", message: "ModelDeployment \(name): \(ObjectCoding.describe(error))")
        }

        func observe(_ answers: [String: JSONValue]) -> (status: ModelDeploymentStatus, transitions: [Condition], effective: [TrafficEntry]) {
            var versions: [String: WorkloadObservation] = [:]
            for version in md?.spec.versions ?? [] {
                versions[version.name] = observeDeployment(namespace: namespace, name: ModelDeploymentDesign.versionName(name, version.name), answers: answers)
            }
            let gateway = observeDeployment(namespace: namespace, name: ModelDeploymentDesign.gatewayName(name), answers: answers)
            return ModelDeploymentDesign.status(
                name: name, namespace: namespace, generation: object.generation, previous: previous, spec: md?.spec, problem: problem,
                versions: versions, gateway: gateway, clusterDomain: configuration.clusterDomain, now: Self.now())
        }
        var (status, transitions, effective) = observe([:])
        if problem == nil, let md, let uid = object.uid {
            let owner = OwnerIdentity(kind: ModelDeployment.kind, name: name, namespace: namespace, uid: uid)
            let children = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: configuration)
            let answers = try await ensure(children, ownerKind: ModelDeployment.kind, ownerKey: key, namespace: namespace)
            if !answers.isEmpty {
                // The applies' answers may show versions that became ready meanwhile: settle the
                // traffic table on the freshest readiness before writing status.
                (status, transitions, effective) = observe(answers)
                let settled = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: configuration)
                let changed = zip(settled, children).filter { $0 != $1 }.map(\.0)
                if !changed.isEmpty { try await ensure(changed, ownerKind: ModelDeployment.kind, ownerKey: key, namespace: namespace, prune: false) }
            }
        }
        if try await writeStatus(status, resource: Self.modelDeployments, object: object) {
            await recordEvents(transitions, previous: previous?.conditions, object: object)
        }
        return .awaitChange
    }
}
