import CapstanCore
import CapstanKube
import Synchronization

extension Watch {
    /// A watch on objects that refer to objects of the watching kind (a DriftPolicy naming a
    /// ModelDeployment in its spec): `references` gives the keys (`namespace/name`) an object
    /// refers to now. A change re-reconciles those keys and the ones the object referred to
    /// before this change, so an object that is edited to refer elsewhere, or deleted,
    /// re-reconciles what it no longer refers to (a change carries only the new object; the
    /// previous references are remembered here, per object).
    public static func referencing(_ resource: KubeResource, _ references: @escaping @Sendable (JSONValue) -> [String]) -> Watch {
        let memory = ReferenceMemory()
        return Watch(resource) { change in
            let object = change.object
            let now: [String]
            switch change {
            case .applied: now = object.deletionTimestamp == nil ? references(object) : []
            case .deleted: now = []
            }
            let before = memory.replace(object.objectKey, with: now)
            var seen = Set<String>()
            return (before + now).filter { seen.insert($0).inserted }
        }
    }
}

/// The keys each watched object referred to at its last change.
private final class ReferenceMemory: Sendable {
    private let state = Mutex<[String: [String]]>([:])

    /// Stores `keys` for `object` and returns what was stored before.
    func replace(_ object: String, with keys: [String]) -> [String] {
        state.withLock { state in
            let before = state[object] ?? []
            state[object] = keys.isEmpty ? nil : keys
            return before
        }
    }
}
