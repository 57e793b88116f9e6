import CapstanCore
import CapstanKube
import Logging
import Synchronization

/// Runs the registered kinds: one reflector per watched resource and per owned child kind
/// (shared by every kind that needs it), one ``Controller`` per kind, change routing from
/// children to their owners, a periodic resync, readiness, and (optionally) leader election so
/// that only one replica acts. Register every kind before ``run()``.
public final class ControllerManager: Sendable {
    public struct Options: Sendable {
        /// Namespace to watch; nil = all.
        public var namespace: String?
        /// Concurrent reconciles per kind.
        public var workers: Int
        /// Leader election; nil = act at once (a single replica).
        public var leaderElection: LeaderElector.Configuration?
        /// Field manager for server-side apply of children and status.
        public var fieldManager: String
        /// Identity in Events (`reportingInstance`) and the Events' `source.component`.
        public var identity: String
        public var component: String
        /// Label selector of the children this manager creates: the child caches hold only those.
        public var childSelector: String
        /// Every object is reconciled again, and every cache relisted, about this often (±10 %),
        /// even when nothing seems to change: a relist is the one repair for a change the watch
        /// never delivered. Nil: only on changes (and `requeue(after:)`).
        public var resyncPeriod: Duration?

        public init(
            namespace: String? = nil, workers: Int = 4, leaderElection: LeaderElector.Configuration? = nil, fieldManager: String,
            identity: String, component: String, childSelector: String, resyncPeriod: Duration? = .seconds(600)
        ) {
            self.namespace = namespace
            self.workers = workers
            self.leaderElection = leaderElection
            self.fieldManager = fieldManager
            self.identity = identity
            self.component = component
            self.childSelector = childSelector
            self.resyncPeriod = resyncPeriod
        }
    }

    let client: KubeClient
    let options: Options
    let logger: Logger
    public let stats = ReconcileStats()
    private let registrations = Mutex<[Registration]>([])
    private let leading = Atomic<Bool>(false)
    private let synced = Atomic<Bool>(false)

    public init(client: KubeClient, options: Options, logger: Logger) {
        self.client = client
        self.options = options
        self.logger = logger
    }

    /// Registers a kind: its resource is watched and cached, its owned child kinds too, and
    /// its reconciler runs on every change of the object, of its children, of what it watches,
    /// on `requeue(after:)`, and on each resync.
    public func register<R: Reconciler>(_ reconciler: R) {
        registrations.withLock { registrations in
            precondition(!registrations.contains { $0.resource == R.resource }, "\(R.resource.kind) is registered twice")
            registrations.append(Registration(reconciler))
        }
    }

    /// The registered kinds, in registration order.
    public var kinds: [KubeResource] { registrations.withLock { $0.map(\.resource) } }

    /// The RBAC rules the registered kinds need (what the Helm chart's ClusterRole must grant).
    public var policyRules: [PolicyRule] {
        let registrations = registrations.withLock { $0 }
        return PolicyRule.rules(
            primaries: registrations.map(\.resource), watched: registrations.flatMap { $0.watches.map(\.resource) },
            children: registrations.flatMap(\.owns).map(\.resource))
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
        if isSynced { return nil }
        let kinds = self.kinds.map { "\($0.kind)s" }
        return "listing \(kinds.joined(separator: ", ")) and their children (caches not synced yet)"
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

    /// Reflectors, change routing, resync and controllers, until cancelled.
    private func runControllers() async {
        let registrations = self.registrations.withLock { $0 }
        let caches = makeCaches(registrations)
        let environment = ReconcileEnvironment(
            client: client, logger: logger, caches: caches, statusWriter: StatusWriter(client: client, fieldManager: options.fieldManager),
            events: EventRecorder(client: client, component: options.component, instance: options.identity, logger: logger))
        let running = registrations.map { registration in
            Controller(kind: registration.resource.kind, stats: stats, logger: logger) { key in
                try await registration.reconcile(key, environment)
            }
        }
        let byResource = Dictionary(uniqueKeysWithValues: zip(registrations.map(\.resource), running))
        await withDiscardingTaskGroup { group in
            // Subscribe before the reflectors start so no change is missed.
            for (resource, reflector) in caches.resources {
                let changes = reflector.changes()
                let primary = byResource[resource]
                let watchers = registrations.flatMap { registration in
                    registration.watches.filter { $0.resource == resource }.map { (byResource[registration.resource]!, $0.map) }
                }
                let statusWriter = environment.statusWriter
                group.addTask {
                    for await change in changes {
                        for (controller, map) in watchers {
                            for key in map(change) { controller.queue.add(key) }
                        }
                        if let primary, !statusWriter.isOwnEcho(change, resource: resource) {
                            primary.queue.add(change.object.objectKey)
                        }
                    }
                }
            }
            for (kind, reflector) in caches.children {
                let changes = reflector.changes()
                group.addTask {
                    for await change in changes {
                        guard let owner = caches.index.record(change, kind: kind) else { continue }
                        if let controller = byResource.first(where: { $0.key.apiVersion == owner.apiVersion && $0.key.kind == owner.kind })?.value {
                            controller.queue.add(owner.key)
                        }
                    }
                }
            }
            for reflector in caches.all {
                group.addTask { await reflector.run() }
            }
            group.addTask { [self] in
                // Reconciles read the caches: wait for every list before starting.
                for reflector in caches.all { await reflector.store.waitUntilSynced() }
                if Task.isCancelled { return }
                synced.store(true, ordering: .relaxed)
                logger.info(
                    "caches synced",
                    metadata: ["operator.objects": "\(registrations.map { "\($0.resource.kind)=\(caches.resources[$0.resource]!.store.count)" }.joined(separator: " "))"])
                await withDiscardingTaskGroup { controllers in
                    for (resource, controller) in byResource {
                        controllers.addTask { await controller.run(workers: self.options.workers) }
                        if let period = options.resyncPeriod {
                            let store = caches.resources[resource]!.store
                            controllers.addTask { await Self.resync(controller, store: store, every: period) }
                        }
                    }
                }
            }
        }
    }

    /// One reflector per resource a kind is registered for or watches (whole objects, without
    /// managedFields) and per owned child kind (slimmed, only this manager's children).
    private func makeCaches(_ registrations: [Registration]) -> RuntimeCaches {
        var resources: [KubeResource: Reflector] = [:]
        for resource in registrations.map(\.resource) + registrations.flatMap({ $0.watches.map(\.resource) }) where resources[resource] == nil {
            let watcher = Watcher(client: client, resource: resource, namespace: options.namespace, resyncPeriod: options.resyncPeriod)
            resources[resource] = Reflector(watcher: watcher)
        }
        var children: [ChildKind: Reflector] = [:]
        for kind in registrations.flatMap(\.owns) where children[kind] == nil {
            let watcher = Watcher(
                client: client, resource: kind.resource, namespace: options.namespace, labelSelector: options.childSelector,
                resyncPeriod: options.resyncPeriod)
            children[kind] = Reflector(watcher: watcher, transform: { kind.slim($0) })
        }
        return RuntimeCaches(resources: resources, children: children)
    }

    /// Queues every cached object of a kind about once per `period` (±10 %), until cancelled.
    private static func resync(_ controller: Controller, store: ReflectorStore, every period: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Watcher.jittered(period)) } catch { return }
            for key in store.keys { controller.queue.add(key) }
        }
    }
}
