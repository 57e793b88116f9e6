import CapstanAPI
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Logging
import Synchronization

/// The operator: reflectors for FeatureViews, ModelDeployments and their children, one
/// ``Controller`` per kind, and (optionally) leader election so that only one replica acts.
public final class Operator: Sendable {
    public struct Options: Sendable {
        /// Namespace to watch; nil = all.
        public var namespace: String?
        /// Concurrent reconciles per kind.
        public var workers: Int = 4
        /// Leader election; nil = act at once (a single replica).
        public var leaderElection: LeaderElector.Configuration?
        /// Field manager for server-side apply of children and status.
        public var fieldManager = "capstan-operator"
        /// Identity in Events.
        public var identity = "capstan-operator"

        public init(namespace: String? = nil, workers: Int = 4, leaderElection: LeaderElector.Configuration? = nil) {
            self.namespace = namespace
            self.workers = workers
            self.leaderElection = leaderElection
        }
    }

    public static let featureViews = KubeResource(group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: FeatureView.plural, kind: FeatureView.kind)
    public static let modelDeployments = KubeResource(
        group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: ModelDeployment.plural, kind: ModelDeployment.kind)
    /// Children carry this label; the child reflectors watch only such objects.
    public static let childSelector = "app.kubernetes.io/managed-by=\(K8s.managedBy)"

    let client: KubeClient
    let configuration: OperatorConfiguration
    let options: Options
    let logger: Logger
    let featureViewReflector: Reflector
    let modelDeploymentReflector: Reflector
    let childReflectors: [ChildKind: Reflector]
    let index = ChildIndex()
    let dependents = FeatureViewDependents()
    let events: EventRecorder
    public let stats = ReconcileStats()
    let leading = Atomic<Bool>(false)
    let synced = Atomic<Bool>(false)
    let featureViewController: Controller
    let modelDeploymentController: Controller
    /// The resourceVersion each resource got from this operator's last status write: the watch
    /// echoes that write back, and an object exactly as the operator left it needs no reconcile.
    let ownStatusWrites = Mutex<[String: String]>([:])

    public init(client: KubeClient, configuration: OperatorConfiguration, options: Options, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.options = options
        self.logger = logger
        featureViewReflector = Reflector(client: client, resource: Self.featureViews, namespace: options.namespace)
        modelDeploymentReflector = Reflector(client: client, resource: Self.modelDeployments, namespace: options.namespace)
        var children: [ChildKind: Reflector] = [:]
        for kind in ChildKind.allCases {
            let watcher = Watcher(client: client, resource: kind.resource, namespace: options.namespace, labelSelector: Self.childSelector)
            children[kind] = Reflector(watcher: watcher, transform: ChildSlimming.slim)
        }
        childReflectors = children
        events = EventRecorder(client: client, component: "capstan-operator", instance: options.identity, logger: logger)
        let stats = self.stats
        // The reconcile closures reach the operator through a box filled right below: the
        // controllers are stored properties, so they exist before `self` is complete.
        let box = WeakBox()
        featureViewController = Controller(kind: FeatureView.kind, stats: stats, logger: logger) { key in
            guard let op = box.value else { return .awaitChange }
            return try await op.reconcileFeatureView(key)
        }
        modelDeploymentController = Controller(kind: ModelDeployment.kind, stats: stats, logger: logger) { key in
            guard let op = box.value else { return .awaitChange }
            return try await op.reconcileModelDeployment(key)
        }
        box.value = self
    }

    /// True while this instance leads (always true without leader election once running).
    public var isLeader: Bool { leading.load(ordering: .relaxed) }
    /// True once every cache has been listed.
    public var isSynced: Bool { synced.load(ordering: .relaxed) }

    /// Why this instance is not ready, for `/readyz`; nil when it is. The instance that acts (the
    /// leader, or the only replica) is ready once every cache has been listed; a standby is ready
    /// as it is (it only waits for the Lease), so a rollout of several replicas is not held up.
    public var notReadyReason: String? {
        if options.leaderElection != nil && !isLeader { return nil }
        if !isLeader { return "not started" }
        return isSynced ? nil : "listing FeatureViews, ModelDeployments and their children (caches not synced yet)"
    }

    /// Runs until the task is cancelled (or leadership is lost: then it throws).
    public func run() async throws {
        if let election = options.leaderElection {
            let elector = LeaderElector(client: client, configuration: election, logger: logger)
            try await elector.run { [self] in
                leading.store(true, ordering: .relaxed)
                defer { leading.store(false, ordering: .relaxed) }
                logger.info("leading; starting controllers", metadata: ["operator.identity": "\(election.identity)"])
                await runControllers()
            }
        } else {
            leading.store(true, ordering: .relaxed)
            defer { leading.store(false, ordering: .relaxed) }
            await runControllers()
        }
    }

    /// Reflectors, change feeders and controllers, until cancelled.
    func runControllers() async {
        await withDiscardingTaskGroup { group in
            let reflectors = [featureViewReflector, modelDeploymentReflector] + ChildKind.allCases.map { childReflectors[$0]! }
            // Subscribe before the reflectors start so no change is missed.
            let fvChanges = featureViewReflector.changes()
            let mdChanges = modelDeploymentReflector.changes()
            let childChanges = ChildKind.allCases.map { ($0, childReflectors[$0]!.changes()) }
            for reflector in reflectors {
                group.addTask { await reflector.run() }
            }
            group.addTask { [self] in
                for await change in fvChanges {
                    let object = change.object
                    let key = object.objectKey
                    let affected = dependents.update(change)
                    for other in affected { featureViewController.queue.add(other) }
                    if isOwnStatusEcho(change) { continue }
                    featureViewController.queue.add(key)
                }
            }
            group.addTask { [self] in
                for await change in mdChanges where !isOwnStatusEcho(change) {
                    modelDeploymentController.queue.add(change.object.objectKey)
                }
            }
            for (kind, changes) in childChanges {
                group.addTask { [self] in
                    for await change in changes {
                        guard let owner = index.record(change, kind: kind) else { continue }
                        switch owner.kind {
                        case FeatureView.kind: featureViewController.queue.add(owner.key)
                        case ModelDeployment.kind: modelDeploymentController.queue.add(owner.key)
                        default: break
                        }
                    }
                }
            }
            group.addTask { [self] in
                // Reconciles read the child caches: wait for every list before starting.
                for reflector in reflectors { await reflector.store.waitUntilSynced() }
                if Task.isCancelled { return }
                synced.store(true, ordering: .relaxed)
                logger.info("caches synced", metadata: ["operator.featureviews": "\(featureViewReflector.store.count)", "operator.modeldeployments": "\(modelDeploymentReflector.store.count)"])
                await withDiscardingTaskGroup { controllers in
                    controllers.addTask { await self.featureViewController.run(workers: self.options.workers) }
                    controllers.addTask { await self.modelDeploymentController.run(workers: self.options.workers) }
                }
            }
        }
    }

    // MARK: Shared reconcile steps

    static func version(of object: JSONValue) -> String {
        if let generation = object.generation { return "g\(generation)" }
        return "r\(object.resourceVersion ?? "")"
    }

    /// Server-side applies (concurrently) each desired child that differs from what was last
    /// applied or that changed on the server since, then deletes this owner's children that are
    /// no longer desired. Returns the server's answers to the applies, by child name: fresher
    /// than the caches, which the watch updates a moment later.
    @discardableResult
    func ensure(_ desired: [DesiredChild], ownerKind: String, ownerKey: String, namespace: String, prune: Bool = true) async throws -> [String: JSONValue] {
        var wanted = Set<ChildRef>()
        var pending: [(ChildRef, DesiredChild, String)] = []
        for child in desired {
            let ref = ChildRef(kind: child.kind, namespace: namespace, name: child.name)
            wanted.insert(ref)
            let hash = stableHash(child.object.jsonText)
            if let cached = childReflectors[child.kind]!.store.get(ref.key), cached.deletionTimestamp == nil,
                let applied = index.applied(ref), applied.hash == hash, applied.version == Self.version(of: cached)
            {
                continue
            }
            pending.append((ref, child, hash))
        }
        var answers: [String: JSONValue] = [:]
        if !pending.isEmpty {
            let client = self.client
            let manager = options.fieldManager
            try await withThrowingTaskGroup(of: (ChildRef, String, JSONValue).self) { group in
                for (ref, child, hash) in pending {
                    group.addTask {
                        let result = try await client.apply(child.kind.resource, child.object.jsonValue, fieldManager: manager, force: true)
                        return (ref, hash, result)
                    }
                }
                for try await (ref, hash, result) in group {
                    index.setApplied(ref, .init(hash: hash, version: Self.version(of: result), resourceVersion: result.resourceVersion))
                    if ref.kind == .deployment { answers[ref.name] = result }
                }
            }
        }
        for extra in index.children(ofKind: ownerKind, key: ownerKey) where prune && !wanted.contains(extra) {
            do {
                try await client.delete(extra.kind.resource, name: extra.name, namespace: extra.namespace, propagationPolicy: .background)
                logger.info("deleted a child no longer in the spec", metadata: ["operator.owner": "\(ownerKey)", "operator.child": "\(extra.kind.kind)/\(extra.name)"])
            } catch let error as KubeError where error.isNotFound {
                continue
            }
        }
        return answers
    }

    /// The freshest view of a Deployment: the answer of an apply made in this reconcile if there
    /// was one and it is not older than the cache, else the cache.
    func observeDeployment(namespace: String, name: String, answers: [String: JSONValue]) -> WorkloadObservation? {
        let cached = childReflectors[.deployment]!.store.get("\(namespace)/\(name)")
        guard let answer = answers[name] else { return cached.map(WorkloadObservation.init(deployment:)) }
        if let cached, let a = UInt64(answer.resourceVersion ?? ""), let c = UInt64(cached.resourceVersion ?? ""), c > a {
            return WorkloadObservation(deployment: cached)
        }
        return WorkloadObservation(deployment: answer)
    }

    /// Writes `status` with server-side apply unless the object already has exactly it.
    func writeStatus<S: Encodable>(_ status: S, resource: KubeResource, object: JSONValue) async throws -> Bool {
        let encoded = try ObjectCoding.encode(status)
        if object["status"] == encoded { return false }
        let body: JSONValue = [
            "apiVersion": .string(resource.apiVersion),
            "kind": .string(resource.kind),
            "metadata": ["name": .string(object.name ?? ""), "namespace": .string(object.namespace ?? "default")],
            "status": encoded,
        ]
        let written = try await client.applyStatus(resource, body, fieldManager: options.fieldManager, force: true)
        if let version = written.resourceVersion {
            ownStatusWrites.withLock { $0[object.objectKey] = version }
        }
        return true
    }

    /// True for the watch event of this operator's own last status write (nothing else changed).
    ///
    /// The resourceVersion alone is not enough: when someone changes the spec while a status
    /// write is in flight, the write's answer (and its watch event) already carries the new spec.
    /// If the watch missed the spec change's own event (a 410 and relist in between), skipping
    /// that event would lose the change, so an echo must also show that the status describes the
    /// object's current generation.
    func isOwnStatusEcho(_ change: ReflectorChange) -> Bool {
        let key = change.object.objectKey
        guard case .applied(let object) = change else {
            ownStatusWrites.withLock { _ = $0.removeValue(forKey: key) }
            return false
        }
        guard let version = object.resourceVersion else { return false }
        guard let generation = object[path: ["metadata", "generation"]],
            generation == object[path: ["status", "observedGeneration"]]
        else { return false }
        return ownStatusWrites.withLock { $0[key] == version }
    }

    /// Events for the transitions worth telling a person about: Ready flipping (not its first
    /// False while things start), and Degraded turning True.
    func recordEvents(_ transitions: [Condition], previous: [Condition]?, object: JSONValue) async {
        for condition in transitions {
            let existed = previous?[type: condition.type] != nil
            // Recorded off the reconcile's path: an Event never delays (or fails) a reconcile.
            let events = self.events
            if condition.type == ConditionType.ready, existed || condition.status == .true {
                Task { await events.record(on: object, warning: condition.status != .true, reason: condition.reason, message: condition.message) }
            } else if condition.type == ConditionType.degraded, condition.status == .true {
                Task { await events.record(on: object, warning: true, reason: condition.reason, message: condition.message) }
            }
        }
    }

    static func now() -> String { KubeTime.format(Date()) }
}

/// Lets the controllers' closures reach the operator without a retain cycle.
final class WeakBox: Sendable {
    private let storage = Mutex<Operator?>(nil)
    var value: Operator? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Which FeatureViews depend on which (`namespace/name` → views listing it in `dependsOn`), so
/// a change to a view re-reconciles its dependents.
final class FeatureViewDependents: Sendable {
    private struct State {
        var dependsOn: [String: [String]] = [:]
        var dependents: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// Records the change; returns the keys of the views that depend on the changed one.
    func update(_ change: ReflectorChange) -> Set<String> {
        let object = change.object
        let key = object.objectKey
        let namespace = object.namespace ?? "default"
        var new: [String] = []
        if case .applied = change {
            new = (object[path: ["spec", "dependsOn"]]?.arrayValue ?? []).compactMap { $0.stringValue.map { "\(namespace)/\($0)" } }
        }
        return state.withLock { state in
            for old in state.dependsOn[key] ?? [] { state.dependents[old]?.remove(key) }
            for dependency in new { state.dependents[dependency, default: []].insert(key) }
            state.dependsOn[key] = new.isEmpty ? nil : new
            return state.dependents[key] ?? []
        }
    }
}
