import CapstanCore
import CapstanKube
import Synchronization

/// Writes status with server-side apply under one field manager, and recognizes the watch's
/// echo of its own writes so they cause no second reconcile.
final class StatusWriter: Sendable {
    let client: KubeClient
    let fieldManager: String
    /// The resourceVersion each object got from this writer's last status write.
    private let ownWrites = Mutex<[OwnerRef: String]>([:])

    init(client: KubeClient, fieldManager: String) {
        self.client = client
        self.fieldManager = fieldManager
    }

    /// Writes `status` unless the object already has exactly it; true when it wrote. With
    /// `fields`, only those top-level fields are written and compared: the rest of the status
    /// belongs to other field managers, and server-side apply leaves it alone.
    func write<S: Encodable>(_ status: S, resource: KubeResource, object: JSONValue, fields: [String]? = nil) async throws -> Bool {
        var encoded = try ObjectCoding.encode(status)
        if let fields {
            let members = encoded.objectValue ?? [:]
            encoded = JSONValue(members: fields.compactMap { field in members[field].map { (field, $0) } })
            if fields.allSatisfy({ object[path: ["status", $0]] == members[$0] }) { return false }
        } else if object["status"] == encoded {
            return false
        }
        let body: JSONValue = [
            "apiVersion": .string(resource.apiVersion),
            "kind": .string(resource.kind),
            "metadata": ["name": .string(object.name ?? ""), "namespace": .string(object.namespace ?? "default")],
            "status": encoded,
        ]
        let written = try await client.applyStatus(resource, body, fieldManager: fieldManager, force: true)
        if let version = written.resourceVersion { noteWrite(resource, key: object.objectKey, resourceVersion: version) }
        return true
    }

    /// Remembers the resourceVersion a status write of this writer produced.
    func noteWrite(_ resource: KubeResource, key: String, resourceVersion: String) {
        ownWrites.withLock { $0[OwnerRef(resource, key: key)] = resourceVersion }
    }

    /// True for the watch event of this writer's own last status write (nothing else changed).
    ///
    /// The resourceVersion alone is not enough: when someone changes the spec while a status
    /// write is in flight, the write's answer (and its watch event) already carries the new spec.
    /// If the watch missed the spec change's own event (a 410 and relist in between), skipping
    /// that event would lose the change, so an echo must also show that the status describes the
    /// object's current generation.
    func isOwnEcho(_ change: ReflectorChange, resource: KubeResource) -> Bool {
        let ref = OwnerRef(resource, key: change.object.objectKey)
        guard case .applied(let object) = change else {
            ownWrites.withLock { _ = $0.removeValue(forKey: ref) }
            return false
        }
        guard let version = object.resourceVersion,
            let generation = object[path: ["metadata", "generation"]],
            generation == object[path: ["status", "observedGeneration"]]
        else { return false }
        return ownWrites.withLock { $0[ref] == version }
    }
}
