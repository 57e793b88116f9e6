import CapstanKube
import Synchronization

/// A child as the index names it.
public struct ChildRef: Sendable, Hashable {
    public var kind: ChildKind
    public var namespace: String
    public var name: String

    var key: String { "\(namespace)/\(name)" }
}

/// Children by owner (`Kind/namespace/name` of the controller ownerReference), kept up to date
/// from the child reflectors' changes, so a reconcile finds its children without scanning the
/// caches. Also remembers, per child, what the operator last applied and the version the
/// server gave it, so unchanged children are not applied again.
public final class ChildIndex: Sendable {
    struct Applied {
        var hash: String
        /// `metadata.generation` (or `resourceVersion` for kinds without one) after the apply.
        var version: String
        /// The resourceVersion the apply produced: its watch echo needs no reconcile.
        var resourceVersion: String? = nil
    }

    private struct State {
        var byOwner: [String: Set<ChildRef>] = [:]
        var ownerOf: [ChildRef: String] = [:]
        var applied: [ChildRef: Applied] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    static func ownerKey(kind: String, namespace: String, name: String) -> String { "\(kind)/\(namespace)/\(name)" }

    /// The controller owner of `object` if it is a Capstan resource: (`kind`, `namespace/name`).
    static func controllerOwner(of object: JSONValue) -> (kind: String, key: String)? {
        for reference in object.ownerReferences where reference["controller"]?.boolValue == true {
            guard let apiVersion = reference["apiVersion"]?.stringValue, apiVersion.hasPrefix("ml.capstan.dev/"),
                let kind = reference["kind"]?.stringValue, let name = reference["name"]?.stringValue
            else { continue }
            return (kind, "\(object.namespace ?? "default")/\(name)")
        }
        return nil
    }

    /// Records a child change; returns its owner (`kind`, `namespace/name`) to enqueue, or nil
    /// when there is none or the change is the echo of the operator's own apply (the object is
    /// exactly as that apply left it).
    @discardableResult
    func record(_ change: ReflectorChange, kind: ChildKind) -> (kind: String, key: String)? {
        let object = change.object
        guard let name = object.name else { return nil }
        let child = ChildRef(kind: kind, namespace: object.namespace ?? "default", name: name)
        let owner = Self.controllerOwner(of: object)
        let echo = state.withLock { state -> Bool in
            if let previous = state.ownerOf[child] {
                state.byOwner[previous]?.remove(child)
                if state.byOwner[previous]?.isEmpty == true { state.byOwner[previous] = nil }
                state.ownerOf[child] = nil
            }
            switch change {
            case .applied:
                if let owner {
                    let key = "\(owner.kind)/\(owner.key)"
                    state.byOwner[key, default: []].insert(child)
                    state.ownerOf[child] = key
                }
            case .deleted:
                state.applied[child] = nil
                return false
            }
            guard case .applied = change, let version = object.resourceVersion else { return false }
            return state.applied[child]?.resourceVersion == version
        }
        return echo ? nil : owner
    }

    func children(ofKind kind: String, key: String) -> Set<ChildRef> {
        state.withLock { $0.byOwner["\(kind)/\(key)"] ?? [] }
    }

    func applied(_ child: ChildRef) -> Applied? {
        state.withLock { $0.applied[child] }
    }

    func setApplied(_ child: ChildRef, _ applied: Applied?) {
        state.withLock { $0.applied[child] = applied }
    }

    /// Forgets what was applied for an owner's children (the owner is gone).
    func forgetOwner(kind: String, key: String) {
        state.withLock { state in
            for child in state.byOwner["\(kind)/\(key)"] ?? [] { state.applied[child] = nil }
        }
    }
}
