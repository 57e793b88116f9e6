import CapstanAPI
import CapstanKube
import CapstanKubeRuntime

extension Operator {
    /// Level-based: read the view and the world, compute the children, apply them, write
    /// status. A spec that cannot run leaves the existing children alone (the workers keep the
    /// last valid definition) and says why in the conditions.
    func reconcileFeatureView(_ key: String) async throws -> ReconcileResult {
        guard let object = featureViewReflector.store.get(key) else {
            index.forgetOwner(kind: FeatureView.kind, key: key)
            return .awaitChange  // deleted: the garbage collector removes the children
        }
        if object.deletionTimestamp != nil { return .awaitChange }
        let namespace = object.namespace ?? "default"
        let name = object.name ?? ""
        let previous = object["status"].flatMap { try? ObjectCoding.decode(FeatureViewStatus.self, from: $0) }

        let compiled: Result<FeatureViewDesign.Compiled, FeatureViewDesign.SpecProblem>
        var view: FeatureView?
        do {
            let decoded = try ObjectCoding.decode(FeatureView.self, from: object)
            view = decoded
            compiled = FeatureViewDesign.compile(decoded) { dependency in
                featureViewReflector.store.get("\(namespace)/\(dependency)").flatMap { try? ObjectCoding.decode(FeatureView.self, from: $0) }
            }
        } catch {
            compiled = .failure(.init(reason: "InvalidSpec", message: "FeatureView \(name): \(ObjectCoding.describe(error))"))
        }

        var answers: [String: JSONValue] = [:]
        if case .success(let plan) = compiled, let view, let uid = object.uid {
            let owner = OwnerIdentity(kind: FeatureView.kind, name: name, namespace: namespace, uid: uid)
            let children = FeatureViewDesign.children(of: view, compiled: plan, owner: owner, configuration: configuration)
            answers = try await ensure(children, ownerKind: FeatureView.kind, ownerKey: key, namespace: namespace)
        }
        let worker = observeDeployment(namespace: namespace, name: FeatureViewDesign.workerName(name), answers: answers)
        let (status, transitions) = FeatureViewDesign.status(
            name: name, generation: object.generation, previous: previous, compiled: compiled, worker: worker, now: Self.now())
        if try await writeStatus(status, resource: Self.featureViews, object: object) {
            await recordEvents(transitions, previous: previous?.conditions, object: object)
        }
        return .awaitChange
    }
}
