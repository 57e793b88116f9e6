import CapstanCore
import CapstanKube
import Foundation
import Logging

/// A registered kind with its types erased: what the manager needs to run it.
struct Registration: Sendable {
    let resource: KubeResource
    let owns: [ChildKind]
    let watches: [Watch]
    /// The shared prologue, the reconciler, and the epilogue for one key.
    let reconcile: @Sendable (_ key: String, _ environment: ReconcileEnvironment) async throws -> ReconcileResult

    init<R: Reconciler>(_ reconciler: R) {
        resource = R.resource
        owns = R.owns
        watches = reconciler.watches
        reconcile = { key, environment in try await Self.run(reconciler, key: key, environment: environment) }
    }

    /// Looks the object up, decodes it and its previous status, runs the reconciler, writes the
    /// status it returns (with `observedGeneration`) and records its Events if the status changed.
    static func run<R: Reconciler>(_ reconciler: R, key: String, environment: ReconcileEnvironment) async throws -> ReconcileResult {
        let owner = OwnerRef(R.resource, key: key)
        guard let object = environment.caches.resources[R.resource]?.store.get(key) else {
            environment.caches.index.forget(owner)
            return .awaitChange  // deleted: the garbage collector removes the children
        }
        if object.deletionTimestamp != nil { return .awaitChange }
        let namespace = object.namespace ?? "default"
        let name = object.name ?? ""
        let previous = object["status"].flatMap { try? ObjectCoding.decode(R.Status.self, from: $0) }
        let decoded: Result<R.Object, InvalidObject>
        do {
            decoded = .success(try ObjectCoding.decode(R.Object.self, from: object))
        } catch {
            decoded = .failure(InvalidObject(message: "\(R.resource.kind) \(name): \(ObjectCoding.describe(error))"))
        }
        let identity = object.uid.map {
            OwnerIdentity(apiVersion: R.resource.apiVersion, kind: R.resource.kind, name: name, namespace: namespace, uid: $0)
        }
        let request = ReconcileRequest<R.Object, R.Status>(
            key: key, namespace: namespace, name: name, generation: object.generation, object: object, decoded: decoded,
            previous: previous, owner: identity, now: KubeTime.format(Date()))
        let context = ReconcileContext(
            client: environment.client, logger: environment.logger, caches: environment.caches, owner: owner, namespace: namespace,
            fieldManager: environment.statusWriter.fieldManager)
        var outcome = try await reconciler.reconcile(request, context: context)
        outcome.status.observedGeneration = object.generation
        if try await environment.statusWriter.write(outcome.status, resource: R.resource, object: object, fields: R.Status.operatorFields) {
            environment.events.record(outcome.events, on: object)
        }
        return outcome.next
    }
}

/// What every reconcile of one manager run shares.
struct ReconcileEnvironment: Sendable {
    let client: KubeClient
    let logger: Logger
    let caches: RuntimeCaches
    let statusWriter: StatusWriter
    let events: EventRecorder
}
