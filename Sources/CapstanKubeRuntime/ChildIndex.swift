import CapstanCore
import CapstanKube
import Synchronization

/// The owner of a child, as its controller ownerReference names it.
struct OwnerRef: Sendable, Hashable {
    /// `group/version` of the owner.
    var apiVersion: String
    var kind: String
    /// `namespace/name`.
    var key: String

    /// The controller owner of `object`, if it has one.
    init?(controllerOf object: JSONValue) {
        for reference in object.ownerReferences where reference["controller"]?.boolValue == true {
            guard let apiVersion = reference["apiVersion"]?.stringValue, let kind = reference["kind"]?.stringValue,
                let name = reference["name"]?.stringValue
            else { continue }
            self.init(apiVersion: apiVersion, kind: kind, key: "\(object.namespace ?? "default")/\(name)")
            return
        }
        return nil
    }

    init(apiVersion: String, kind: String, key: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.key = key
    }

    init(_ resource: KubeResource, key: String) {
        self.init(apiVersion: resource.apiVersion, kind: resource.kind, key: key)
    }
}

/// Children by owner, kept up to date from the child reflectors' changes, so a reconcile finds
/// its children without scanning the caches. Also remembers, per child, what was last applied
/// and the version the server gave it, so unchanged children are not applied again.
final class ChildIndex: Sendable {
    struct Applied {
        var hash: String
        /// `metadata.generation` (or `resourceVersion` for kinds without one) after the apply.
        var version: String
        /// The resourceVersion the apply produced: its watch echo needs no reconcile.
        var resourceVersion: String? = nil
    }

    private struct State {
        var byOwner: [OwnerRef: Set<ChildRef>] = [:]
        var ownerOf: [ChildRef: OwnerRef] = [:]
        var applied: [ChildRef: Applied] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// Records a child change; returns its owner to enqueue, or nil when there is none or the
    /// change is the echo of this process's own apply (the object exactly as that apply left it).
    @discardableResult
    func record(_ change: ReflectorChange, kind: ChildKind) -> OwnerRef? {
        let object = change.object
        guard let name = object.name else { return nil }
        let child = ChildRef(kind: kind, namespace: object.namespace ?? "default", name: name)
        let owner = OwnerRef(controllerOf: object)
        let echo = state.withLock { state -> Bool in
            if let previous = state.ownerOf.removeValue(forKey: child) {
                state.byOwner[previous]?.remove(child)
                if state.byOwner[previous]?.isEmpty == true { state.byOwner[previous] = nil }
            }
            guard case .applied = change else {
                state.applied[child] = nil
                return false
            }
            if let owner {
                state.byOwner[owner, default: []].insert(child)
                state.ownerOf[child] = owner
            }
            guard let version = object.resourceVersion else { return false }
            return state.applied[child]?.resourceVersion == version
        }
        return echo ? nil : owner
    }

    func children(of owner: OwnerRef) -> Set<ChildRef> {
        state.withLock { $0.byOwner[owner] ?? [] }
    }

    func applied(_ child: ChildRef) -> Applied? {
        state.withLock { $0.applied[child] }
    }

    func setApplied(_ child: ChildRef, _ applied: Applied?) {
        state.withLock { $0.applied[child] = applied }
    }

    /// Forgets what was applied for an owner's children (the owner is gone).
    func forget(_ owner: OwnerRef) {
        state.withLock { state in
            for child in state.byOwner[owner] ?? [] { state.applied[child] = nil }
        }
    }
}
