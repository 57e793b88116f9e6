import CapstanCore
import CapstanKube
import Foundation
import Logging

/// The caches and indexes one ``ControllerManager`` run shares between its controllers.
final class RuntimeCaches: Sendable {
    /// Whole objects (managedFields dropped) of the registered kinds and the watched resources.
    let resources: [KubeResource: Reflector]
    /// Slimmed children (``ChildKind/slim(_:)``), only those with the managed-by label.
    let children: [ChildKind: Reflector]
    let index = ChildIndex()

    init(resources: [KubeResource: Reflector], children: [ChildKind: Reflector]) {
        self.resources = resources
        self.children = children
    }

    var all: [Reflector] { Array(resources.values) + Array(children.values) }
}

/// What a reconcile can do besides computing: read the caches, apply its children, and reach
/// the API server. One per reconcile, bound to the object being reconciled.
public struct ReconcileContext: Sendable {
    public let client: KubeClient
    public let logger: Logger
    let caches: RuntimeCaches
    let owner: OwnerRef
    let namespace: String
    let fieldManager: String

    /// An object of a registered or watched resource, from the cache (same namespace unless given).
    public func object(_ resource: KubeResource, name: String, namespace: String? = nil) -> JSONValue? {
        caches.resources[resource]?.store.get("\(namespace ?? self.namespace)/\(name)")
    }

    /// Every cached object of a registered or watched resource in this namespace (in no
    /// particular order): for a reconcile that depends on which objects refer to it.
    public func objects(_ resource: KubeResource) -> [JSONValue] {
        caches.resources[resource]?.store.list(namespace: namespace) ?? []
    }

    /// The same, decoded; nil when absent or not decodable.
    public func lookup<T: Decodable>(_ type: T.Type, in resource: KubeResource, name: String, namespace: String? = nil) -> T? {
        object(resource, name: name, namespace: namespace).flatMap { try? ObjectCoding.decode(T.self, from: $0) }
    }

    /// A child as the child cache has it (slimmed: identity, owner, kept status).
    public func child(_ kind: ChildKind, name: String) -> JSONValue? {
        caches.children[kind]?.store.get("\(namespace)/\(name)")
    }

    /// The freshest view of a child: the answer of an apply made in this reconcile when there
    /// was one and the cache is not newer, else the cache.
    public func freshest(_ kind: ChildKind, name: String, applied: AppliedChildren) -> JSONValue? {
        let cached = child(kind, name: name)
        guard let answer = applied[kind, name] else { return cached }
        if let cached, let a = UInt64(answer.resourceVersion ?? ""), let c = UInt64(cached.resourceVersion ?? ""), c > a { return cached }
        return answer
    }

    /// Server-side applies (concurrently) each desired child that differs from what was last
    /// applied or that changed on the server since; then, when `prune` is set, deletes this
    /// owner's children that are no longer desired. Returns the server's answers to the
    /// applies: fresher than the caches, which the watch updates a moment later.
    @discardableResult
    public func apply(_ desired: [DesiredChild], prune: Bool = true) async throws -> AppliedChildren {
        var wanted = Set<ChildRef>()
        var pending: [(ChildRef, DesiredChild, String)] = []
        for child in desired {
            let ref = ChildRef(kind: child.kind, namespace: namespace, name: child.name)
            wanted.insert(ref)
            let hash = stableHash(child.object.serialized())
            if let cached = caches.children[child.kind]?.store.get(ref.key), cached.deletionTimestamp == nil,
                let applied = caches.index.applied(ref), applied.hash == hash, applied.version == Self.version(of: cached)
            {
                continue
            }
            pending.append((ref, child, hash))
        }
        var answers = AppliedChildren()
        if !pending.isEmpty {
            let client = self.client
            let manager = fieldManager
            try await withThrowingTaskGroup(of: (ChildRef, String, JSONValue).self) { group in
                for (ref, child, hash) in pending {
                    group.addTask {
                        let result = try await client.apply(child.kind.resource, child.object, fieldManager: manager, force: true)
                        return (ref, hash, result)
                    }
                }
                for try await (ref, hash, result) in group {
                    caches.index.setApplied(ref, .init(hash: hash, version: Self.version(of: result), resourceVersion: result.resourceVersion))
                    answers.answers[ref] = ref.kind.slim(result)
                }
            }
        }
        guard prune else { return answers }
        for extra in caches.index.children(of: owner) where !wanted.contains(extra) {
            do {
                try await client.delete(extra.kind.resource, name: extra.name, namespace: extra.namespace, propagationPolicy: .background)
                logger.info("deleted a child no longer desired", metadata: ["operator.owner": "\(owner.key)", "operator.child": "\(extra.kind)/\(extra.name)"])
            } catch let error as KubeError where error.isNotFound {
                continue
            }
        }
        return answers
    }

    static func version(of object: JSONValue) -> String {
        if let generation = object.generation { return "g\(generation)" }
        return "r\(object.resourceVersion ?? "")"
    }
}

/// The server's answers to a reconcile's applies, by child (slimmed like the cache).
public struct AppliedChildren: Sendable {
    var answers: [ChildRef: JSONValue] = [:]

    public init() {}

    public var isEmpty: Bool { answers.isEmpty }

    public subscript(kind: ChildKind, name: String) -> JSONValue? {
        answers.first { $0.key.kind == kind && $0.key.name == name }?.value
    }
}
