import CapstanCore
import Logging
import Synchronization

/// The objects of one resource as last seen by a `Reflector`, keyed by `namespace/name`.
/// Controllers read from here instead of asking the API server. Each object is held once, as
/// its compact JSON encoding: a parsed `JSONValue` tree (dictionaries, arrays, boxed strings)
/// takes several times the memory of its text, and an operator caches thousands of objects but
/// reads only the few a reconcile touches. Reads parse the stored text.
public final class ReflectorStore: Sendable {
    private let state = Mutex<State>(State())

    private struct Entry {
        let json: [UInt8]
        let resourceVersion: String?

        init(_ object: JSONValue) {
            json = object.serializedBytes()
            resourceVersion = object.resourceVersion
        }

        var object: JSONValue {
            // The text was written by `serializedBytes` from a parsed value: it always parses.
            (try? JSONValue.parse(json)) ?? .null
        }
    }

    private struct State {
        var objects: [String: Entry] = [:]
        var synced = false
        var resourceVersion = ""
        var syncWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    public init() {}

    public func get(_ key: String) -> JSONValue? { state.withLock { $0.objects[key] }?.object }

    public func get(name: String, namespace: String?) -> JSONValue? {
        get(namespace.map { "\($0)/\(name)" } ?? name)
    }

    /// Every object (in no particular order).
    public func list() -> [JSONValue] { state.withLock { Array($0.objects.values) }.map(\.object) }

    /// The objects in `namespace` matching `selector`.
    public func list(namespace: String? = nil, selector: LabelSelector? = nil) -> [JSONValue] {
        list().filter { object in
            (namespace == nil || object.namespace == namespace) && (selector?.matches(object.labels) ?? true)
        }
    }

    public var keys: [String] { state.withLock { Array($0.objects.keys) } }
    public var count: Int { state.withLock { $0.objects.count } }
    /// True once the first list has been stored.
    public var isSynced: Bool { state.withLock { $0.synced } }
    /// The resourceVersion of the newest event stored.
    public var resourceVersion: String { state.withLock { $0.resourceVersion } }

    /// Returns once the first list has been stored, or when the calling task is cancelled
    /// (check `Task.isCancelled`): a stopping operator must not wait for a list that its
    /// cancelled reflector will never make.
    public func waitUntilSynced() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked under the lock: a cancellation handler that ran before this found no
                // waiter to resume, and the task is already marked cancelled.
                let ready = state.withLock { state in
                    if state.synced || Task.isCancelled { return true }
                    state.syncWaiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.syncWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Replaces the contents; returns the changes against the previous contents.
    func replace(_ objects: [JSONValue], resourceVersion: String) -> [ReflectorChange] {
        var fresh: [String: (JSONValue, Entry)] = [:]
        fresh.reserveCapacity(objects.count)
        for object in objects { fresh[object.objectKey] = (object, Entry(object)) }
        let kept = fresh.mapValues(\.1)
        let (applied, vanished, waiters) = state.withLock { state -> ([JSONValue], [Entry], [CheckedContinuation<Void, Never>]) in
            var applied: [JSONValue] = []
            for (key, (object, _)) in fresh where state.objects[key] == nil || state.objects[key]?.resourceVersion != object.resourceVersion {
                applied.append(object)
            }
            let vanished = state.objects.filter { fresh[$0.key] == nil }.map(\.value)
            state.objects = kept
            state.resourceVersion = resourceVersion
            state.synced = true
            let waiters = Array(state.syncWaiters.values)
            state.syncWaiters = [:]
            return (applied, vanished, waiters)
        }
        for waiter in waiters { waiter.resume() }
        return applied.map(ReflectorChange.applied) + vanished.map { .deleted($0.object) }
    }

    func apply(_ object: JSONValue) {
        let entry = Entry(object)
        state.withLock { state in
            state.objects[object.objectKey] = entry
            if let version = object.resourceVersion { state.resourceVersion = version }
        }
    }

    func remove(_ object: JSONValue) {
        state.withLock { state in
            state.objects[object.objectKey] = nil
            if let version = object.resourceVersion { state.resourceVersion = version }
        }
    }

    func bookmark(_ resourceVersion: String) {
        state.withLock { $0.resourceVersion = resourceVersion }
    }
}

/// A change a `Reflector` stored.
public enum ReflectorChange: Sendable {
    /// Created or updated (also reported after a relist for every object that changed).
    case applied(JSONValue)
    /// Deleted (also reported after a relist for objects that vanished meanwhile).
    case deleted(JSONValue)

    public var object: JSONValue {
        switch self {
        case .applied(let object), .deleted(let object): return object
        }
    }
}

/// Keeps a `ReflectorStore` in step with the API server through a `Watcher`, and tells
/// subscribers what changed. One reflector per watched resource; controllers share it.
public final class Reflector: Sendable {
    public let store: ReflectorStore
    public let watcher: Watcher
    private let transform: @Sendable (JSONValue) -> JSONValue
    private let subscribers = Mutex<[UInt64: AsyncStream<ReflectorChange>.Continuation]>([:])
    private let nextSubscriber = Atomic<UInt64>(0)

    /// - Parameter transform: applied to each object before it is stored; the default drops
    ///   `metadata.managedFields`, which controllers never read and which is often the largest
    ///   part of an object.
    public init(watcher: Watcher, store: ReflectorStore = ReflectorStore(), transform: @escaping @Sendable (JSONValue) -> JSONValue = Reflector.dropManagedFields) {
        self.watcher = watcher
        self.store = store
        self.transform = transform
    }

    public convenience init(client: KubeClient, resource: KubeResource, namespace: String? = nil, labelSelector: String? = nil) {
        self.init(watcher: Watcher(client: client, resource: resource, namespace: namespace, labelSelector: labelSelector))
    }

    @Sendable public static func dropManagedFields(_ object: JSONValue) -> JSONValue {
        guard object[path: ["metadata", "managedFields"]] != nil else { return object }
        var object = object
        object[path: ["metadata", "managedFields"]] = nil
        return object
    }

    /// A stream of every change stored from now on. It ends when the reflector stops.
    public func changes() -> AsyncStream<ReflectorChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: ReflectorChange.self)
        let id = nextSubscriber.wrappingAdd(1, ordering: .relaxed).oldValue
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// Runs the watcher until the task is cancelled, then ends the subscribers' streams.
    public func run() async {
        await watcher.run { event in
            switch event {
            case .listed(let objects, let version):
                let changes = store.replace(objects.map(transform), resourceVersion: version)
                publish(changes)
            case .added(let object), .modified(let object):
                let object = transform(object)
                store.apply(object)
                publish([.applied(object)])
            case .deleted(let object):
                let object = transform(object)
                store.remove(object)
                publish([.deleted(object)])
            case .bookmark(let version):
                store.bookmark(version)
            }
        }
        let all = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }

    private func publish(_ changes: [ReflectorChange]) {
        if changes.isEmpty { return }
        let all = subscribers.withLock { Array($0.values) }
        for continuation in all {
            for change in changes { continuation.yield(change) }
        }
    }
}
